// Runs every F# and C# block of README.md and docs/*.md as a user would paste it: each F# block
// as a script of its own (its own #r "nuget: ..." and open lines), each C# block as the
// Program.cs of a console app referencing every package (build/consumer/snippet). They run in
// a folder holding the files the docs name (fixtures: mlp.pt). A block the page marks with the
// line <!-- fragment --> just above it continues an earlier one and is counted, not run.
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
                let fragment = start > 0 && lines.[start - 1].Trim() = "<!-- fragment -->"
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
                        Fragment = fragment
                    }

            i <- i + 1
    ]

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
    p.WaitForExit()
    p.ExitCode, output.Result + errors.Result

/// A fresh folder with the files the docs' blocks read.
let folderFor (name: string) =
    let folder = Path.Combine(work, "snippets", name)
    Directory.CreateDirectory folder |> ignore
    File.Copy(Path.Combine(repo, "property-tests/fixtures/pytorch/model_mlp.pt"), Path.Combine(folder, "mlp.pt"), true)
    folder

let runBlock (b: Block) =
    let name = $"""{b.Page.Replace('/', '_').Replace(".md", "")}_{b.Line}"""
    let folder = folderFor name

    match b.Language with
    | "fsharp" ->
        File.WriteAllText(Path.Combine(folder, "snippet.fsx"), b.Code)
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

let all =
    pages |> List.filter (fun p -> p.Contains pageFilter) |> List.collect blocks

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
