/// The examples people copy from, run small: they must run and their loss must fall.
module Functional.PropertyTests.ExampleTests

open System
open System.Diagnostics
open System.IO
open Expecto

let private repositoryRoot = Support.repositoryRoot

/// Runs a command in the repository root; returns what it printed.
let private runForOutput (fileName: string) (arguments: string list) =
    let info =
        ProcessStartInfo(
            fileName,
            arguments,
            WorkingDirectory = repositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    info.Environment.["TERM"] <- "dumb"
    use proc = Process.Start info
    let stderr = proc.StandardError.ReadToEndAsync()
    let stdout = proc.StandardOutput.ReadToEnd()

    if not (proc.WaitForExit(TimeSpan.FromMinutes 3.0)) then
        proc.Kill true
        failtestf "%s timed out" fileName

    if proc.ExitCode <> 0 then
        failtestf "%s exited with %d:\n%s\n%s" fileName proc.ExitCode stdout stderr.Result

    stdout

/// Runs a command in the repository root; returns its key=value result lines.
let private run (fileName: string) (arguments: string list) =
    (runForOutput fileName arguments).Split('\n')
    |> Array.choose (fun line ->
        match line.Trim().Split('=') with
        | [| key; value |] when key.Length > 0 && not (key.Contains ' ') -> Some(key, value)
        | _ -> None)
    |> Map.ofArray

/// Runs a built C# example program (examples/NAME) with arguments; returns its key=value result lines.
let private runProgram (name: string) (arguments: string list) =
    run
        "dotnet"
        (Path.Combine(repositoryRoot, $"examples/{name}/bin/Release/net10.0/{name}.dll")
         :: arguments)

let private expectLearns (results: Map<string, string>) =
    let value key =
        match results.TryFind key with
        | Some v -> float v
        | None -> failtestf "the example printed no %s= line (it printed %A)" key results

    Expect.isLessThan (value "final_loss") (value "initial_loss" / 10.0) "the loss falls by at least 10x"

let private expectCloser (results: Map<string, string>) =
    let start, final =
        float results.["start_distance"], float results.["final_distance"]

    Expect.isLessThan
        final
        (start / 2.0)
        $"the distance to the real samples falls well below its start ({start:F3} -> {final:F3})"

let tests =
    testList
        "examples"
        [
            testCase "C# regression with Grad and a hand-written update loop"
            <| fun () -> expectLearns (runProgram "CSharpRegression" [ "--steps"; "150" ])

            testCase "F# script regression (dotnet fsi)"
            <| fun () -> expectLearns (run "dotnet" [ "fsi"; "examples/regression.fsx"; "--steps"; "150" ])

            testCase "MNIST quickstart, C# program, run small"
            <| fun () ->
                let results = runProgram "CSharpMnist" [ "--epochs"; "2"; "--train"; "2000" ]

                Expect.isGreaterThan
                    (float results.["test_accuracy"])
                    0.8
                    "learns digits from 2,000 examples in 2 epochs"

            testCase "MNIST quickstart, F# script, run small"
            <| fun () ->
                let results =
                    run "dotnet" [ "fsi"; "examples/mnist.fsx"; "--epochs"; "2"; "--train"; "2000" ]

                Expect.isGreaterThan
                    (float results.["test_accuracy"])
                    0.8
                    "learns digits from 2,000 examples in 2 epochs"

                Expect.isTrue (results.ContainsKey "train_seconds") "reports the training time"

            testCase "GAN with two tapes, C# program: the generated distribution approaches the real one"
            <| fun () -> expectCloser (runProgram "CSharpGan" [ "--steps"; "600" ])

            testCase "GAN with two tapes, F# script: the generated distribution approaches the real one"
            <| fun () -> expectCloser (run "dotnet" [ "fsi"; "examples/gan.fsx"; "--steps"; "600" ])

            testCase "GAN with two tapes, data-parallel under mpirun -np 2: both players agree on every rank and learn"
            <| fun () ->
                let results =
                    run
                        "mpirun"
                        [
                            "--allow-run-as-root"
                            "--oversubscribe"
                            "-np"
                            "2"
                            "dotnet"
                            "fsi"
                            "examples/gan.fsx"
                            "--steps"
                            "600"
                        ]

                Expect.equal results.["ranks"] "2" "two ranks"
                Expect.equal results.["ranks_agree"] "1" "the ranks' players are the same after every averaged update"
                expectCloser results

            testCase "custom attention layer in a functional model, C# program, run small"
            <| fun () ->
                let results = runProgram "CSharpAttention" [ "--epochs"; "3" ]
                Expect.isGreaterThan (float results.["test_accuracy"]) 0.9 "finds the marked step"

                Expect.equal
                    (float results.["reloaded_max_abs_diff"])
                    0.0
                    "the saved model, custom layer included, predicts the same"

            testCase
                "text classifier from a text stream, F# script, run small: learns, and the saved vectorizer and model predict the same"
            <| fun () ->
                let results =
                    run "dotnet" [ "fsi"; "examples/text_classifier.fsx"; "--epochs"; "2" ]

                Expect.isGreaterThan (float results.["test_accuracy"]) 0.9 "tells good reviews from bad"
                Expect.equal (float results.["reloaded_max_abs_diff"]) 0.0 "vectorizer and model reloaded together"

            testCase "custom attention layer in a functional model, F# script, run small"
            <| fun () ->
                let results = run "dotnet" [ "fsi"; "examples/attention.fsx"; "--epochs"; "3" ]
                Expect.isGreaterThan (float results.["test_accuracy"]) 0.9 "finds the marked step"

            testCase "MNIST to ONNX: save, reload, export, classify with ONNX Runtime alone"
            <| fun () ->
                let results = runProgram "CSharpOnnx" [ "--epochs"; "1" ]
                Expect.isLessThan (float results.["onnx_max_abs_diff"]) 1e-4 "ONNX Runtime agrees with the model"
                Expect.isGreaterThan (float results.["onnx_test_accuracy"]) 0.85 "and classifies the test digits"

            testCase
                "data-parallel MNIST under mpirun -np 2, C# program and F# script: the test accuracy of one process"
            <| fun () ->
                let mpirun command =
                    run "mpirun" ([ "--allow-run-as-root"; "--oversubscribe"; "-np"; "2" ] @ command)

                let program =
                    Path.Combine(repositoryRoot, "examples/CSharpDistributed/bin/Release/net10.0/CSharpDistributed.dll")

                let script = [ "fsi"; "examples/distributed.fsx" ]
                let small = [ "--epochs"; "2"; "--train"; "2000" ]

                for single, distributed in
                    [
                        runProgram "CSharpDistributed" small, mpirun ("dotnet" :: program :: small)
                        run "dotnet" (script @ small), mpirun ("dotnet" :: script @ small)
                    ] do
                    Expect.equal (single.["ranks"], distributed.["ranks"]) ("1", "2") "one process, then two ranks"

                    Expect.equal
                        distributed.["test_accuracy"]
                        single.["test_accuracy"]
                        "exact mode: the ranks' model is the one process's"

                    Expect.isGreaterThan (float single.["test_accuracy"]) 0.75 "and it learned"

            testCase "prune, quantize, export and classify with ONNX Runtime alone, C# program and F# script, run small"
            <| fun () ->
                for results in
                    [
                        runProgram "CSharpOptimize" [ "--epochs"; "1"; "--train"; "2000" ]
                        run "dotnet" [ "fsi"; "examples/optimize.fsx"; "--epochs"; "1"; "--train"; "2000" ]
                    ] do
                    Expect.floatClose
                        { absolute = 0.002; relative = 0.0 }
                        (float results.["prune_sparsity"])
                        0.8
                        "80% of the weights pruned"

                    Expect.isGreaterThan
                        (float results.["int8_test_accuracy"])
                        0.7
                        "ONNX Runtime classifies the digits with the int8 model"

                    Expect.isGreaterThan (float results.["int8_accuracy_delta"]) -3.0 "int8 costs little accuracy"

                    Expect.isLessThan
                        (float results.["int8_file_ratio"])
                        0.3
                        "the int8 model is under 30% of the float one on disk"

            testCase "training from a Parquet stream, C# program, run small"
            <| fun () ->
                let results = runProgram "CSharpStreams" [ "--epochs"; "2"; "--train"; "2000" ]
                Expect.isGreaterThan (float results.["test_accuracy"]) 0.8 "learns digits from the stream"
                Expect.isTrue (results.ContainsKey "input_wait_share") "reports the input wait"

            testCase "profiling a slow stream and the fixed one, C# program, run small"
            <| fun () ->
                let logDir =
                    Path.Combine(Path.GetTempPath(), $"functional-profile-example-{Guid.NewGuid():N}")

                let results =
                    runProgram "CSharpProfile" [ "--train"; "2560"; "--delay-ms"; "100"; "--logdir"; logDir ]

                Expect.equal results.["bottleneck_before"] "Input" "the slow read makes it input-bound"
                Expect.isGreaterThan (float results.["input_wait_share_before"]) 0.3 "mostly waiting"
                // Tests run in parallel here, so the fixed stream's workers share the machine:
                // the run asserts the wait falls, the benchmark measures how far.
                let before, after =
                    float results.["input_wait_share_before"], float results.["input_wait_share_after"]

                Expect.isLessThan after (before / 2.0) $"the fix cuts the wait ({before:F3} -> {after:F3})"

                for run in [ "before"; "after" ] do
                    for file in [ "trace.json"; "report.txt" ] do
                        Expect.isTrue (File.Exists(Path.Combine(logDir, run, "profile", file))) $"{run}: {file}"

                Directory.Delete(logDir, true)

            testCase "training from a Parquet stream, F# script, run small"
            <| fun () ->
                let results =
                    run "dotnet" [ "fsi"; "examples/streams.fsx"; "--epochs"; "2"; "--train"; "2000" ]

                Expect.isGreaterThan (float results.["test_accuracy"]) 0.8 "learns digits from the stream"
                let share = float results.["input_wait_share"]
                Expect.isTrue (share >= 0.0 && share < 1.0) $"the input wait is a share of the step time ({share})"

        ]
