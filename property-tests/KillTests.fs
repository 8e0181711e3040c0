/// Saves are atomic as a whole: a child process saving a model (and rotating checkpoint files)
/// in a loop is killed with SIGKILL at random moments, and every folder it leaves loads as
/// exactly one complete save, every checkpoint as one complete training state.
module Functional.PropertyTests.KillTests

open System
open System.Diagnostics
open System.Globalization
open System.IO
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Persistence
open Functional.Training

let private network () =
    Sequential(Dense(256L, name = "wide"), Dense(64L, name = "narrow"))

let private inputShape = [| 128L |]

/// Every parameter of the model set to value: the save that wrote it is recognisable from its weights.
let private fill (model: Model) (value: float) =
    use _ = torch.no_grad ()

    for t in model.State.Params.Leaves do
        t.fill_ (value) |> ignore

let private checkpoints (folder: string) = folder + "-checkpoints"

/// The child's side: saves forever, save i with every weight i and metadata save=i, and the
/// training state as checkpoint i mod 3.
let saveLoop (folder: string) =
    use model =
        new Model(network (), inputShape, Loss.MeanSquaredError, Optimizer.Adam 1e-3)

    let mutable i = 1

    while true do
        fill model (float i)
        ModelFile.Save(folder, model, metadata = readOnlyDict [ "save", string i ])
        TrainStateFile.Save(Path.Combine(checkpoints folder, $"checkpoint-{i % 3}.safetensors"), model.State)
        i <- i + 1

    0

/// Every checkpoint file loads, its checksum holds, and its weights are those of one save.
let private checkCheckpoints (folder: string) : string list =
    if not (Directory.Exists(checkpoints folder)) then
        []
    else
        [
            for file in Directory.GetFiles(checkpoints folder) do
                if not (Path.GetFileName(file).StartsWith '.') then
                    try
                        let state = TrainStateFile.Load file
                        let first = state.Params.Leaves.[0].flatten().[0L].item<float32>()

                        if
                            state.Params.Leaves
                            |> Seq.exists (fun t -> not (t.eq(torch.tensor first).all().item<bool>()))
                        then
                            yield $"{Path.GetFileName file} mixes the weights of several saves"

                        state.Params.Dispose()
                        state.OptState.Dispose()
                    with e ->
                        yield $"{Path.GetFileName file}: {e.GetType().Name}: {e.Message}"
        ]

/// What a folder holds after a kill: None before the first save finished, Some(save) when it
/// loads as one complete save, or a failure describing what is mixed or unloadable.
let private check (folder: string) (probe: torch.Tensor) : Result<int option, string> =
    if not (SavedFolder.HasManifest folder) then
        Ok None
    else
        try
            let save = int (ModelFile.ReadMetadata(folder).["save"])
            use loaded = ModelFile.LoadModel(folder, Loss.MeanSquaredError, Optimizer.Adam 1e-3)

            use expected =
                new Model(network (), inputShape, Loss.MeanSquaredError, Optimizer.Adam 1e-3)

            fill expected (float save)

            let mixed =
                loaded.State.Params.Leaves
                |> Seq.exists (fun t -> not (t.eq(torch.tensor (float32 save)).all().item<bool>()))

            if mixed then
                Error $"the description says save {save}, the weights are of another save"
            elif
                (loaded.Predict probe - expected.Predict probe).abs().max().item<float32>()
                <> 0.0f
            then
                Error $"save {save} predicts other values"
            else
                Ok(Some save)
        with e ->
            Error $"{e.GetType().Name}: {e.Message}"

let private selfPath = Reflection.Assembly.GetExecutingAssembly().Location

/// Kills a saving child kills times; returns (kills, mixed or unloadable folders, stale temporary
/// files after the next save, distinct saves seen).
let killRun (kills: int) (seed: int) =
    let folder = Path.Combine(Path.GetTempPath(), $"functional-kill-{Guid.NewGuid():N}")
    let random = Random seed

    let probe =
        torch.randn ([| 4L; yield! inputShape |], generator = new torch.Generator(uint64 seed))

    let mutable bad = []
    let seen = Collections.Generic.HashSet<int>()

    try
        for _ in 1..kills do
            let info =
                ProcessStartInfo(
                    "dotnet",
                    [ selfPath; "--save-loop"; folder ],
                    RedirectStandardOutput = true,
                    RedirectStandardError = true
                )

            use child = Process.Start info
            // Past the child's start-up (about a second), into its saves.
            Threading.Thread.Sleep(random.Next(900, 2200))
            child.Kill()
            child.WaitForExit()

            match check folder probe with
            | Ok(Some save) -> seen.Add save |> ignore
            | Ok None -> ()
            | Error problem -> bad <- problem :: bad

            bad <- List.rev (checkCheckpoints folder) @ bad
        // The next save removes what killed saves left behind.
        use model =
            new Model(network (), inputShape, Loss.MeanSquaredError, Optimizer.Adam 1e-3)

        ModelFile.Save(folder, model, metadata = readOnlyDict [ "save", "0" ])
        TrainStateFile.Save(Path.Combine(checkpoints folder, "checkpoint-0.safetensors"), model.State)

        let stale =
            Directory.GetFiles(folder, "*.tmp").Length
            + Directory.GetFiles(checkpoints folder, "*.tmp").Length

        let parts =
            Directory.GetFiles(folder)
            |> Array.filter (fun f -> not (Path.GetFileName(f).StartsWith '.'))
            |> Array.length

        kills, List.rev bad, stale + (parts - 3), seen.Count
    finally
        for f in [ folder; checkpoints folder ] do
            if Directory.Exists f then
                Directory.Delete(f, true)

let tests =
    testList
        "kill"
        [
            testCase "SIGKILL at random moments during saves: every folder loads as exactly one complete save"
            <| fun () ->
                let kills, bad, stale, seen = killRun 20 (Random.Shared.Next())

                if not bad.IsEmpty then
                    failtestf
                        "%d of %d kills left a mixed or unloadable folder:\n%s"
                        bad.Length
                        kills
                        (String.Join("\n", bad))

                Expect.equal stale 0 "no stale temporary files or old generations after the next save"
                Expect.isGreaterThan seen 1 "the kills landed during saves"
        ]
