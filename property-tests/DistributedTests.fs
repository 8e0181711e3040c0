/// Data-parallel training on MPI: two ranks under mpirun (exact mode reproduces one process, bit
/// for bit across ranks; scalable mode learns as well; a checkpoint resumes on one rank; a dead
/// or hung rank ends the job), and what holds in one process (a job of one rank, batch shares,
/// Dropout's sliced masks).
module Functional.PropertyTests.DistributedTests

open System
open System.Diagnostics
open System.IO
open Expecto
open FsCheck
open TorchSharp
open Functional.Distributed
open Functional.Layers
open Functional.Persistence
open Functional.Training
open Functional.Trees
open Support

/// The result of one job: exit code, everything it printed, its folder and how long it took.
type Job =
    {
        ExitCode: int
        Output: string
        Folder: string
        Seconds: float
    }

/// Runs SCENARIO of DistributedWorker on `ranks` ranks under mpirun (as root too, on 2 cores).
let mpirunOn (ranks: int) (scenario: string) (environment: (string * string) list) (timeout: TimeSpan) =
    let folder = Directory.CreateTempSubdirectory("functional-mpi-").FullName
    let self = Reflection.Assembly.GetExecutingAssembly().Location

    let info =
        ProcessStartInfo(
            "mpirun",
            [
                "--oversubscribe"
                "-np"
                string ranks
                "dotnet"
                self
                "--mpi-worker"
                scenario
                folder
            ],
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    for key, value in
        [
            "OMPI_ALLOW_RUN_AS_ROOT", "1"
            "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"
            "TERM", "dumb"
        ]
        @ environment do
        info.Environment[key] <- value

    let clock = Stopwatch.StartNew()

    use proc =
        try
            Process.Start info
        with :? ComponentModel.Win32Exception ->
            failtest "mpirun is not installed: ./build.sh test installs Debian's openmpi-bin (build/mpi-setup.sh)"

    let stdout = proc.StandardOutput.ReadToEndAsync()
    let stderr = proc.StandardError.ReadToEndAsync()

    if not (proc.WaitForExit timeout) then
        proc.Kill true
        failtestf "mpirun %s did not end within %.0f s" scenario timeout.TotalSeconds

    {
        ExitCode = proc.ExitCode
        Output = stdout.Result + stderr.Result
        Folder = folder
        Seconds = clock.Elapsed.TotalSeconds
    }

/// Runs SCENARIO on two ranks.
let mpirun = mpirunOn 2

/// A job on `ranks` ranks that must succeed.
let succeededOn ranks scenario =
    let job = mpirunOn ranks scenario [] (TimeSpan.FromMinutes 3.0)
    Expect.equal job.ExitCode 0 $"mpirun {scenario} failed:\n{job.Output}"
    job

let succeeded = succeededOn 2

let keyValues (path: string) =
    File.ReadAllLines path
    |> Array.filter (fun l -> l.Contains '=')
    |> Array.map (fun l -> let i = l.IndexOf '=' in l[.. i - 1], l[i + 1 ..])
    |> Map.ofArray

let floats (bytes: byte array) =
    Runtime.InteropServices.MemoryMarshal.Cast<byte, float32>(ReadOnlySpan bytes).ToArray()

let maxAbsDiff (a: float32 array) (b: float32 array) =
    Expect.equal a.Length b.Length "parameter counts"
    Array.map2 (fun x y -> abs (float x - float y)) a b |> Array.max

/// One exact-mode job, shared by the tests that read it.
let exactJob = lazy (succeeded "exact")

/// The single process the exact job must reproduce: the same model, data and global batch.
let singleProcess epochs =
    let x, y = DistributedWorker.blobs ()
    let m = DistributedWorker.model 5UL

    let history =
        m.Fit(x, y, FitOptions(Epochs = epochs, BatchSize = 128, Verbosity = Verbosity.Silent))

    m, history

[<Tests>]
let tests =
    testList
        "distributed"
        [
            testCase "outside mpirun the world is one rank, and every collective returns its input"
            <| fun () ->
                let world = Communicator.World
                Expect.equal (world.Rank, world.Size, world.IsRoot) (0, 1, true) "one rank"

                use tree =
                    TensorTree.Of(struct ("a", torch.tensor [| 1f; 2f |]), struct ("b", torch.tensor [| 3L |]))

                use sum = world.AllReduce(tree, ReduceOp.Sum)
                expectTreesClose "sum over one rank" 0.0 sum tree
                use broadcast = world.Broadcast(tree)
                expectTreesClose "broadcast" 0.0 broadcast tree
                world.Barrier()
                Expect.sequenceEqual (world.Shard [ "a"; "b"; "c" ]) [ "a"; "b"; "c" ] "one rank's shard is everything"

            testCase "collectives name what they cannot take"
            <| fun () ->
                let world = Communicator.World
                use strided = torch.ones(3L, 4L).t()

                expectThrowsWith<ArgumentException> [ "not contiguous" ] (fun () ->
                    world.AllReduceInPlace(strided, ReduceOp.Sum))

                use ints = torch.ones (3L, dtype = torch.int64)

                expectThrowsWith<ArgumentException> [ "Mean needs a floating tensor" ] (fun () ->
                    world.AllReduceInPlace(ints, ReduceOp.Mean))

                use half = torch.ones (3L, dtype = torch.float16)

                expectThrowsWith<ArgumentException> [ "not Float16"; "AllReduce returns a reduced copy" ] (fun () ->
                    world.AllReduceInPlace(half, ReduceOp.Sum))

            testPropertyWithConfig config "batch shares are contiguous, cover the batch and differ by at most one row"
            <| fun (PositiveInt rows) (PositiveInt ranks) ->
                let rows, ranks = int64 rows, min ranks 64
                let shares = [ for r in 0 .. ranks - 1 -> BatchShare.Of(r, ranks, rows) ]
                Expect.equal (shares |> List.sumBy (fun s -> s.Rows)) rows "they cover the batch"
                Expect.equal shares.Head.Offset 0L "the first starts at row 0"

                for a, b in List.pairwise shares do
                    Expect.equal b.Offset (a.Offset + a.Rows) "contiguous"

                let sizes = shares |> List.map (fun s -> s.Rows)
                Expect.isLessThanOrEqual (List.max sizes - List.min sizes) 1L "even"

            testCase "in exact mode each rank's Dropout mask is its rows of the global batch's"
            <| fun () ->
                let dropout = Dropout(0.5)
                use input = torch.ones (10L, 4L)
                let key = RandomKey(7UL)
                let struct (whole, _) = dropout.Apply(Variables.None, input, ApplyContext.Train key)

                let parts =
                    [
                        for rank in 0..2 ->
                            let share = BatchShare.Of(rank, 3, 10L)

                            let context = ApplyContext(true, key, Share = share)

                            let struct (part, _) =
                                dropout.Apply(Variables.None, input.narrow (0L, share.Offset, share.Rows), context)

                            part
                    ]

                use joined = torch.cat (Array.ofList parts, 0L)
                expectClose "slices of the global mask" 0.0 joined whole

            testCase "Fit with DataParallel in one process trains exactly as without"
            <| fun () ->
                let x, y = DistributedWorker.blobs ()
                use plain = DistributedWorker.model 5UL
                use distributed = DistributedWorker.model 5UL

                plain.Fit(x, y, FitOptions(Epochs = 2, BatchSize = 64, Verbosity = Verbosity.Silent))
                |> ignore

                distributed.Fit(
                    x,
                    y,
                    FitOptions(
                        Epochs = 2,
                        BatchSize = 64,
                        Verbosity = Verbosity.Silent,
                        Distribution = DataParallel.Exact()
                    )
                )
                |> ignore

                expectTreesClose "parameters" 0.0 distributed.State.Params plain.State.Params

            testCase
                "exact mode on 2 ranks: parameters bit-identical across ranks and equal to one process at the global batch"
            <| fun () ->
                let job = exactJob.Force()
                let rank0 = File.ReadAllBytes(Path.Combine(job.Folder, "rank0.bin"))
                let rank1 = File.ReadAllBytes(Path.Combine(job.Folder, "rank1.bin"))
                Expect.isTrue (rank0 = rank1) "the ranks' parameters are bit-identical"
                let single, history = singleProcess 3
                use _ = single
                let expected = DistributedWorker.parameterBytes single.State.Params |> floats
                let difference = maxAbsDiff (floats rank0) expected
                Expect.isLessThanOrEqual difference 1e-6 "2 ranks x 64 rows = 1 process x 128 rows"
                let logs = keyValues (Path.Combine(job.Folder, "rank0.txt"))
                let losses = logs["losses"].Split ',' |> Array.map float
                let singleLosses = history.["loss"] |> Array.ofSeq

                for a, b in Array.zip losses singleLosses do
                    Expect.floatClose { absolute = 1e-5; relative = 1e-5 } a b "each epoch's loss is the global batch's"

                Expect.isGreaterThan (float logs["communication_share"]) 0.0 "the step times show the communication"

            testCase "the all-reduce overlapped with the backward pass gives the same parameters, bit for bit"
            <| fun () ->
                let plain = exactJob.Force()
                let overlapped = succeeded "exact-overlapped"

                for rank in 0..1 do
                    let a = File.ReadAllBytes(Path.Combine(plain.Folder, $"rank{rank}.bin"))
                    let b = File.ReadAllBytes(Path.Combine(overlapped.Folder, $"rank{rank}.bin"))
                    Expect.isTrue (a = b) $"rank {rank}: the same sums, started bucket by bucket"

            testCase "exact mode on 3 ranks (shares of 42, 43 and 43 rows): bit-identical, and equal to one process"
            <| fun () ->
                let job = succeededOn 3 "exact"

                let bins =
                    [ for r in 0..2 -> File.ReadAllBytes(Path.Combine(job.Folder, $"rank{r}.bin")) ]

                Expect.isTrue (bins |> List.forall (fun b -> b = bins.Head)) "the ranks' parameters are bit-identical"
                let single, _ = singleProcess 3
                use _ = single
                let expected = DistributedWorker.parameterBytes single.State.Params |> floats
                let difference = maxAbsDiff (floats bins.Head) expected

                Expect.isLessThanOrEqual
                    difference
                    1e-6
                    "uneven shares, Dropout and synchronised BatchNorm weighted as one batch"

            testCase "a checkpoint written by 2 ranks resumes on 1 and continues exactly"
            <| fun () ->
                let job = exactJob.Force()
                let files = Directory.GetFiles(job.Folder, "epoch-*.safetensors") |> Array.sort
                Expect.equal files.Length 3 "rank 0 alone wrote one checkpoint per epoch"
                let x, y = DistributedWorker.blobs ()
                use resumed = DistributedWorker.model 9UL
                resumed.Resume(TrainStateFile.Load files[1])

                resumed.Fit(
                    x,
                    y,
                    FitOptions(Epochs = 3, InitialEpoch = 2, BatchSize = 128, Verbosity = Verbosity.Silent)
                )
                |> ignore

                let single, _ = singleProcess 3
                use _ = single

                let difference =
                    maxAbsDiff
                        (DistributedWorker.parameterBytes resumed.State.Params |> floats)
                        (DistributedWorker.parameterBytes single.State.Params |> floats)

                Expect.isLessThanOrEqual difference 1e-6 "epoch 3 on one rank after epochs 1-2 on two"

            testCase
                "scalable mode on 2 ranks: each rank its own rows, the same parameters, the accuracy of one process"
            <| fun () ->
                let job = succeeded "scalable"
                let rank0 = File.ReadAllBytes(Path.Combine(job.Folder, "rank0.bin"))
                let rank1 = File.ReadAllBytes(Path.Combine(job.Folder, "rank1.bin"))
                Expect.isTrue (rank0 = rank1) "the ranks' parameters are bit-identical"

                let accuracy =
                    float (keyValues (Path.Combine(job.Folder, "rank0.txt"))).["accuracy"]

                let logs = [ for r in 0..1 -> keyValues (Path.Combine(job.Folder, $"rank{r}.txt")) ]

                Expect.equal
                    logs[1].["val_losses"]
                    logs[0].["val_losses"]
                    "every rank logs the validation loss of every rank's rows"

                Expect.equal logs[1].["epochs"] logs[0].["epochs"] "and its callbacks stop training at the same epoch"

                let x, y = DistributedWorker.blobs ()
                use single = DistributedWorker.model 5UL

                single.Fit(x, y, FitOptions(Epochs = 8, BatchSize = 64, Verbosity = Verbosity.Silent))
                |> ignore

                let singleAccuracy = single.Evaluate(x, y)["accuracy"]
                Expect.isGreaterThan accuracy 0.9 "scalable mode learns"
                Expect.isLessThanOrEqual (abs (accuracy - singleAccuracy)) 0.05 "within noise of one process"

            testCase
                "collectives over trees on 2 ranks: sums, means, broadcast, and a clear error on both ranks when trees differ"
            <| fun () ->
                let job = succeeded "collectives"

                for rank in 0..1 do
                    let mismatch = (keyValues (Path.Combine(job.Folder, $"rank{rank}.txt")))["mismatch"]
                    Expect.stringContains mismatch "the ranks passed different trees" $"rank {rank} was told"

            testCase "a killed rank ends the job with a non-zero exit code, and mpirun names it"
            <| fun () ->
                let job = mpirun "die" [] (TimeSpan.FromMinutes 2.0)
                Expect.notEqual job.ExitCode 0 "the job failed"
                Expect.stringContains job.Output "rank 1" $"the dead rank is named:\n{job.Output}"
                Expect.isLessThan job.Seconds 60.0 "promptly"

            testCase "an exception escaping Fit on one rank ends the job at once, with the exception and the rank"
            <| fun () ->
                let job = mpirun "throws" [] (TimeSpan.FromMinutes 2.0)
                Expect.equal job.ExitCode 70 $"MPI_Abort's code:\n{job.Output}"
                Expect.stringContains job.Output "rank 1 of 2 aborts the job: Fit failed" "the failing rank says so"
                Expect.stringContains job.Output "a callback failed on rank 1" "with the exception"
                Expect.isLessThan job.Seconds 60.0 "without waiting for the watchdog"

            testCase "a hung rank ends the job after Communicator.Timeout, through the other's watchdog"
            <| fun () ->
                let job = mpirun "hang" [ "FUNCTIONAL_MPI_TIMEOUT", "3" ] (TimeSpan.FromMinutes 2.0)
                Expect.notEqual job.ExitCode 0 "the job failed"
                Expect.stringContains job.Output "rank 0 of 2 aborts the job" $"the waiting rank says so:\n{job.Output}"
                Expect.stringContains job.Output "has waited" "and why"
                Expect.isLessThan job.Seconds 60.0 "within the timeout, not the sleep"
        ]
