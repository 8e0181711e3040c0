/// The examples people copy from, run small: they must run and their loss must fall.
module Functional.PropertyTests.ExampleTests

open System
open System.Diagnostics
open System.IO
open Expecto

let private repositoryRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "Functional.sln not found above the test binary"
        elif File.Exists(Path.Combine(dir.FullName, "Functional.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// Runs a command in the repository root; returns its key=value result lines.
let private run (fileName: string) (arguments: string list) =
    let info = ProcessStartInfo(fileName, arguments, WorkingDirectory = repositoryRoot, RedirectStandardOutput = true, RedirectStandardError = true)
    info.Environment.["TERM"] <- "dumb"
    use proc = Process.Start info
    let stderr = proc.StandardError.ReadToEndAsync()
    let stdout = proc.StandardOutput.ReadToEnd()
    if not (proc.WaitForExit(TimeSpan.FromMinutes 3.0)) then
        proc.Kill true
        failtestf "%s timed out" fileName
    if proc.ExitCode <> 0 then failtestf "%s exited with %d:\n%s\n%s" fileName proc.ExitCode stdout stderr.Result
    stdout.Split('\n')
    |> Array.choose (fun line ->
        match line.Trim().Split('=') with
        | [| key; value |] when key.Length > 0 && not (key.Contains ' ') -> Some(key, value)
        | _ -> None)
    |> Map.ofArray

let private expectLearns (results: Map<string, string>) =
    let value key =
        match results.TryFind key with
        | Some v -> float v
        | None -> failtestf "the example printed no %s= line (it printed %A)" key results
    Expect.isLessThan (value "final_loss") (value "initial_loss" / 10.0) "the loss falls by at least 10x"

let tests =
    testList "examples" [
        testCase "C# regression with Grad and a hand-written update loop" <| fun () ->
            let dll = Path.Combine(repositoryRoot, "examples/CSharpRegression/bin/Release/net10.0/CSharpRegression.dll")
            expectLearns (run "dotnet" [ dll; "--steps"; "150" ])

        testCase "F# script regression (dotnet fsi)" <| fun () ->
            expectLearns (run "dotnet" [ "fsi"; "examples/regression.fsx"; "--steps"; "150" ])
    ]
