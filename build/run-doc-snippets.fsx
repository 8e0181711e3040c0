// Runs every F# and C# block of README.md and docs/*.md as a user would paste it: each F# block
// as a script of its own (its own #r "nuget: ..." and open lines), each C# block as the
// Program.cs of a console app referencing every package (build/consumer/snippet). They run in
// a folder holding the files the docs name: build/consumer/files (train.parquet: 512 of the
// built-in MNIST digits) and mlp.pt (a PyTorch fixture). A block marked by the line
// <!-- continues --> just above it runs after the page's first block of its language (its
// quickstart), as one program (C# using directives moved to the top); one marked <!-- fragment --> is counted, not run.
// Usage (build/consumer-check.sh runs it in its empty home, feed and cache; PAGE, optional,
// runs only the pages whose path contains it):
//   dotnet fsi build/run-doc-snippets.fsx -- REPO WORKDIR VERSION [PAGE]
open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions

let args = fsi.CommandLineArgs |> Array.skip 1
let repo, work, version = args.[0], args.[1], args.[2]
let pageFilter = if args.Length > 3 then args.[3] else ""

type Block =
    {
        Page: string
        Line: int
        Language: string
        Code: string
        Fragment: bool
        Continues: bool
    }

let blocks (page: string) =
    let lines = File.ReadAllLines page
    let relative = Path.GetRelativePath(repo, page)

    [
        let mutable i = 0

        while i < lines.Length do
            let m = Regex.Match(lines.[i], "^```(fsharp|csharp)\s*$")

            if m.Success then
                let start = i
                let marker = if start > 0 then lines.[start - 1].Trim() else ""
                i <- i + 1
                let code = ResizeArray()

                while i < lines.Length && not (lines.[i].StartsWith "```") do
                    code.Add lines.[i]
                    i <- i + 1

                yield
                    {
                        Page = relative
                        Line = start + 1
                        Language = m.Groups.[1].Value
                        Code = String.Join("\n", code)
                        Fragment = (marker = "<!-- fragment -->")
                        Continues = (marker = "<!-- continues -->")
                    }

            i <- i + 1
    ]

/// Runs a command; its exit code (124 when it took longer than 10 minutes and was stopped) and output.
let run (folder: string) (file: string) (arguments: string list) =
    let start =
        ProcessStartInfo(
            file,
            arguments,
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    use p = Process.Start start
    let output = p.StandardOutput.ReadToEndAsync()
    let errors = p.StandardError.ReadToEndAsync()

    if p.WaitForExit(TimeSpan.FromMinutes 10.0) then
        p.ExitCode, output.Result + errors.Result
    else
        p.Kill true
        124, "stopped after 10 minutes"

/// A fresh folder with the files the docs' blocks read.
let folderFor (name: string) =
    let folder = Path.Combine(work, "snippets", name)
    Directory.CreateDirectory folder |> ignore
    File.Copy(Path.Combine(repo, "property-tests/fixtures/pytorch/model_mlp.pt"), Path.Combine(folder, "mlp.pt"), true)

    for file in Directory.GetFiles(Path.Combine(repo, "build/consumer/files")) do
        File.Copy(file, Path.Combine(folder, Path.GetFileName file), true)

    folder

/// A C# program's using directives first (a continuing block brings its own).
let hoistUsings (code: string) =
    let lines = code.Split '\n'

    let isUsing (l: string) =
        Regex.IsMatch(l, @"^using (static )?[\w.]+;\s*$")

    String.Join("\n", Array.append (lines |> Array.filter isUsing) (lines |> Array.filter (isUsing >> not)))

let runBlock (b: Block) =
    let name = $"""{b.Page.Replace('/', '_').Replace(".md", "")}_{b.Line}"""
    let folder = folderFor name

    match b.Language with
    | "fsharp" ->
        // A repository script's references (#r "../FSharpApi/...") are relative to examples/.
        let code = b.Code.Replace("#r \"../", $"#r \"{repo}/")
        File.WriteAllText(Path.Combine(folder, "snippet.fsx"), code)
        run folder "dotnet" [ "fsi"; "snippet.fsx" ]
    | _ ->
        for f in Directory.GetFiles(Path.Combine(repo, "build/consumer/snippet")) do
            File.Copy(f, Path.Combine(folder, Path.GetFileName f), true)

        File.WriteAllText(Path.Combine(folder, "Program.cs"), b.Code)

        match
            run
                folder
                "dotnet"
                [
                    "build"
                    "-c"
                    "Release"
                    "-nologo"
                    "-v"
                    "quiet"
                    "-clp:ErrorsOnly"
                    "-clp:NoSummary"
                    $"-p:FunctionalVersion={version}"
                ]
        with
        | 0, _ -> run folder "dotnet" [ "bin/Release/net10.0/Snippet.dll" ]
        | failed -> failed

let pages =
    Path.Combine(repo, "README.md")
    :: (Directory.GetFiles(Path.Combine(repo, "docs"), "*.md")
        |> Array.sort
        |> List.ofArray)

/// Each block, a continuing one with its page's first block of the language (the quickstart) before it.
let withContext (page: Block list) =
    page
    |> List.fold
        (fun (done': Block list) b ->
            let code =
                match done' |> List.tryFindBack (fun p -> p.Language = b.Language && not p.Fragment) with
                | Some previous when b.Continues -> previous.Code + "\n" + b.Code
                | _ -> b.Code

            let code = if b.Language = "csharp" then hoistUsings code else code
            { b with Code = code } :: done')
        []
    |> List.rev

let all =
    pages
    |> List.filter (fun p -> p.Contains pageFilter)
    |> List.collect (blocks >> withContext)

let fragments = all |> List.filter _.Fragment
let mutable failures = 0

for b in all |> List.filter (fun b -> not b.Fragment) do
    let clock = Stopwatch.StartNew()
    let code, output = runBlock b

    if code = 0 then
        printfn "ok    %s:%d (%s, %.0f s)" b.Page b.Line b.Language clock.Elapsed.TotalSeconds
    else
        failures <- failures + 1
        printfn "FAIL  %s:%d (%s, exit %d)\n%s" b.Page b.Line b.Language code output

printfn "doc_blocks_run=%d" (all.Length - fragments.Length)
printfn "doc_blocks_fragments=%d" fragments.Length
printfn "doc_blocks_failed=%d" failures
let ran = all.Length - fragments.Length

if ran = 0 then
    printfn "no block ran: check the page filter and the fences (```fsharp, ```csharp)"

exit (if failures = 0 && ran > 0 then 0 else 1)
