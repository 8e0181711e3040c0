/// What each rank runs in the data-parallel tests: `mpirun -np 2 dotnet Functional.PropertyTests.dll
/// --mpi-worker SCENARIO FOLDER`. Every rank writes what the tests compare into FOLDER:
/// rank{r}.bin (its parameters, float32 in path order) and rank{r}.txt (key=value lines).
module Functional.PropertyTests.DistributedWorker

open System
open System.IO
open Functional.Distributed
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Persistence
open Functional.Training
open Functional.Trees
open TorchSharp
open Support

/// 256 rows of 6 features in 3 classes, the same on every rank.
let blobs () = classBlobs 11UL 256L 6L 3L 2.0 0.5

/// Dropout and BatchNorm included: exact mode must slice the one and synchronise the other.
let network () =
    Sequential(
        Dense(32L, ActivationFunction.Relu),
        BatchNorm(),
        Dropout(0.2),
        Dense(16L, ActivationFunction.Relu),
        Dense(3L)
    )
    :> ILayer

let model (seed: uint64) =
    new Model(
        network (),
        [| 6L |],
        Loss.SparseCategoricalCrossEntropy(true),
        Optimizer.Adam 0.01,
        [ SparseCategoricalAccuracy() :> Metric ],
        seed
    )

/// The parameters as float32 bytes, leaf after leaf in path order.
let parameterBytes (state: TensorTree) =
    state.Leaves
    |> Seq.collect (fun t -> (t.contiguous().to_type torch.float32).bytes.ToArray())
    |> Array.ofSeq

let private write folder (ranks: Communicator) (m: Model) (lines: (string * string) list) =
    File.WriteAllBytes(Path.Combine(folder, $"rank{ranks.Rank}.bin"), parameterBytes m.State.Params)
    let text = lines |> List.map (fun (k, v) -> $"{k}={v}") |> String.concat "\n"
    File.WriteAllText(Path.Combine(folder, $"rank{ranks.Rank}.txt"), text + "\n")

let private accuracy (m: Model) (x: torch.Tensor) (y: torch.Tensor) = m.Evaluate(x, y).["accuracy"]

/// Exact mode: 3 epochs at a global batch of 128, checkpoints by rank 0. Rank 1 starts from
/// another seed, so only the broadcast makes the ranks agree. `distribution` may overlap the
/// all-reduce with the backward pass.
let exactWith (distribution: DataParallel) folder =
    let ranks = Communicator.World
    let x, y = blobs ()
    use m = model (5UL + uint64 ranks.Rank)

    let history =
        m.Fit(
            x,
            y,
            FitOptions(
                Epochs = 3,
                BatchSize = 128,
                Verbosity = Verbosity.Silent,
                Distribution = distribution,
                Callbacks =
                    [|
                        ModelCheckpoint(Path.Combine(folder, "epoch-{epoch}.safetensors")) :> Callback
                    |]
            )
        )

    let losses =
        history.["loss"] |> Seq.map (fun l -> l.ToString "R") |> String.concat ","

    let times = history.StepTimes |> Seq.last
    write folder ranks m [ "losses", losses; "communication_share", string times.CommunicationShare ]

/// Scalable mode: each rank trains on its own half of the rows and validates on its own
/// half of other rows; the callbacks that read validation logs must decide alike everywhere.
let scalable folder =
    let ranks = Communicator.World
    let x, y = blobs ()
    let validationX, validationY = classBlobs 11UL 512L 6L 3L 2.0 0.5

    let own (t: torch.Tensor) (rows: int64) =
        use mine = torch.tensor (ranks.Shard [| 0L .. rows - 1L |] |> Array.ofSeq)
        t.index_select (0L, mine)

    use m = model 5UL

    let history =
        m.Fit(
            own x 256L,
            own y 256L,
            FitOptions(
                Epochs = 8,
                BatchSize = 32,
                Verbosity = Verbosity.Silent,
                Distribution = DataParallel.Scalable(),
                ValidationData =
                    LabeledData(
                        own (validationX.narrow (0L, 256L, 256L)) 256L,
                        own (validationY.narrow (0L, 256L, 256L)) 256L
                    ),
                Callbacks =
                    [|
                        ReduceLearningRateOnPlateau(patience = 1, factor = 0.5) :> Callback
                        EarlyStopping(patience = 2)
                    |]
            )
        )

    let validationLosses =
        history.["val_loss"] |> Seq.map (fun l -> l.ToString "R") |> String.concat ","

    write
        folder
        ranks
        m
        [
            "accuracy", string (accuracy m x y)
            "val_losses", validationLosses
            "epochs", string history.Epochs
        ]

/// The collectives over trees, checked on every rank; a mismatch throws on every rank.
let collectives folder =
    let ranks = Communicator.World
    let r = float32 ranks.Rank

    use tree =
        TensorTree.Of(
            struct ("a", torch.tensor [| r; 10f |]),
            struct ("b/c", torch.tensor ([| int64 ranks.Rank + 1L |])),
            struct ("d", torch.tensor ([| float r |], dtype = torch.float16))
        )

    use sum = ranks.AllReduce(tree, ReduceOp.Sum)
    let expected = float32 (ranks.Size * (ranks.Size - 1) / 2)

    if sum.["a"].data<float32>().ToArray() <> [| expected; 10f * float32 ranks.Size |] then
        failwith "AllReduce Sum of 'a' is wrong"

    if sum.["b/c"].item<int64>() <> int64 (ranks.Size * (ranks.Size + 1) / 2) then
        failwith "AllReduce Sum of int64 'b/c' is wrong"

    if sum.["d"].dtype <> torch.float16 then
        failwith "AllReduce changed a float16 leaf's dtype"

    use mean =
        ranks.AllReduce(TensorTree.Of(struct ("a", torch.tensor [| r |])), ReduceOp.Mean)

    if mean.["a"].item<float32>() <> expected / float32 ranks.Size then
        failwith "AllReduce Mean is wrong"

    use broadcast =
        ranks.Broadcast(TensorTree.Of(struct ("w", torch.ones (3L) * (r + 7f))), 1)

    if broadcast.["w"].data<float32>().ToArray() <> Array.create 3 8f then
        failwith "Broadcast from rank 1 is wrong"

    ranks.Barrier()

    let mismatch =
        try
            use odd = TensorTree.Of(struct ("x", torch.zeros (int64 ranks.Rank + 1L)))
            ranks.AllReduce(odd, ReduceOp.Sum).Dispose()
            "no exception"
        with :? InvalidOperationException as e ->
            e.Message

    File.WriteAllText(Path.Combine(folder, $"rank{ranks.Rank}.txt"), $"mismatch={mismatch}\n")

/// Exact-mode Fit in which rank 1 meets `fault` at step 3 (in a callback); the job must end.
let private faultOnRank1 (fault: unit -> unit) =
    let ranks = Communicator.World
    let x, y = blobs ()
    use m = model 5UL

    let onStep3 =
        LambdaCallback(
            onBatchEnd =
                fun _ step _ ->
                    if ranks.Rank = 1 && step = 3L then
                        fault ()
        )

    m.Fit(
        x,
        y,
        FitOptions(
            Epochs = 50,
            BatchSize = 16,
            Verbosity = Verbosity.Silent,
            Distribution = DataParallel.Exact(),
            Callbacks = [| onStep3 :> Callback |]
        )
    )
    |> ignore

let run scenario folder =
    match scenario with
    | "exact" -> exactWith (DataParallel.Exact()) folder
    // Buckets of 64 values: every layer's gradients in several buckets, started in the backward pass.
    | "exact-overlapped" -> exactWith (DataParallel(OverlapCommunication = true, OverlapBucketElements = 64L)) folder
    | "scalable" -> scalable folder
    | "collectives" -> collectives folder
    // Killed: mpirun ends the job and names the rank.
    | "die" -> faultOnRank1 (fun () -> Diagnostics.Process.GetCurrentProcess().Kill())
    // Fit throws: the rank ends the job at once.
    | "throws" -> faultOnRank1 (fun () -> invalidOp "a callback failed on rank 1")
    // Hangs: the other rank's watchdog ends the job.
    | "hang" -> faultOnRank1 (fun () -> Threading.Thread.Sleep(TimeSpan.FromMinutes 10.0))
    | other -> failwith $"no scenario '{other}'"

    0
