namespace Functional.FSharp

open System.Threading
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training
open Functional.Persistence

/// Settings of `Model.fit`, with Keras's names; start from `FitSettings.defaults`.
type FitSettings =
    {
        Epochs: int
        BatchSize: int
        Shuffle: bool
        /// Data evaluated after every epoch ("val_" logs).
        Validation: LabeledData option
        /// The last fraction held out for validation when there is no Validation data (0 for none).
        ValidationSplit: float
        /// Weight per class (integer targets); empty for none.
        ClassWeights: Map<int64, float>
        Callbacks: Callback list
        Verbosity: Verbosity
        ShowStepTimes: bool
        /// Stops training at the next step boundary (the result's StopReason says so).
        Cancellation: CancellationToken
        /// Data-parallel training under mpirun (`Some(DataParallel.Exact())`); None trains in this process alone.
        Distribution: Functional.Distributed.DataParallel option
    }

    /// One epoch of batches of 32, shuffled, progress as Keras shows it.
    static member defaults =
        {
            Epochs = 1
            BatchSize = 32
            Shuffle = true
            Validation = None
            ValidationSplit = 0.0
            ClassWeights = Map.empty
            Callbacks = []
            Verbosity = Verbosity.Auto
            ShowStepTimes = false
            Cancellation = CancellationToken.None
            Distribution = None
        }

/// What `Model.fit` returns: each logged value per epoch and why training stopped early, if it did.
type FitResult =
    {
        /// Per epoch: "loss", each metric, their "val_" forms.
        Logs: Map<string, float list>
        StopReason: string option
        Epochs: int
        /// The full history (step times included).
        History: History
    }

/// In-memory data for `Model.fit` and `Model.evaluate`: inputs and targets as any F# tree value
/// (a tensor, or a record, tuple or map of tensors named like a functional model's inputs and outputs).
[<RequireQualifiedAccess>]
module Data =
    /// Inputs with their targets.
    let ofTrees (inputs: 'Inputs) (targets: 'Targets) : LabeledData =
        LabeledData(Tree.toTree inputs, Tree.toTree targets)

    /// The same data with a weight per example in the loss (shape (examples)).
    let withSampleWeights (weights: torch.Tensor) (data: LabeledData) : LabeledData =
        LabeledData(data.Inputs, data.Targets, weights)

    /// A seeded, shuffled train/test split (stratified by class when `stratify`).
    let split (testFraction: float) (seed: uint64) (stratify: bool) (data: LabeledData) : LabeledData * LabeledData =
        let struct (train, test) = DataSplit.TrainTest(data, testFraction, seed, stratify)
        train, test

/// Models as F# functions: compile, fit, evaluate, predict, save and load, with F# options,
/// records and lists. The model owns native memory: `use` it.
[<RequireQualifiedAccess>]
module Model =
    /// A model of `network` for inputs of per-example shape `inputShape`, seeded by `seed`.
    let compileSeeded
        (seed: uint64)
        (loss: LossFunction)
        (optimizer: GradientTransformation)
        (metrics: Metric list)
        (inputShape: int64[])
        (network: ILayer)
        =
        new Model(network, inputShape, loss, optimizer, metrics, seed)

    /// A model of `network` for inputs of per-example shape `inputShape` (seed 0):
    /// `network |> Model.compile loss (Optim.adam 1e-3) [ SparseCategoricalAccuracy() ] [| 4L |]`.
    let compile
        (loss: LossFunction)
        (optimizer: GradientTransformation)
        (metrics: Metric list)
        (inputShape: int64[])
        (network: ILayer)
        =
        compileSeeded 0UL loss optimizer metrics inputShape network

    /// A model of a functional network fed by name, with a loss (weight, metrics) per output name.
    let compileNamed (outputs: Map<string, OutputLoss>) (optimizer: GradientTransformation) (network: FunctionalModel) =
        new Model(network, outputs |> Map.toSeq |> readOnlyDict, optimizer)

    let private optionsOf (settings: FitSettings) =
        FitOptions(
            Epochs = settings.Epochs,
            BatchSize = settings.BatchSize,
            Shuffle = settings.Shuffle,
            ValidationData = Option.toObj settings.Validation,
            ValidationSplit = settings.ValidationSplit,
            ClassWeights = (settings.ClassWeights |> Map.toSeq |> readOnlyDict),
            Callbacks = Array.ofList settings.Callbacks,
            Verbosity = settings.Verbosity,
            ShowStepTimes = settings.ShowStepTimes,
            Distribution = Option.toObj settings.Distribution
        )

    let private resultOf (history: History) =
        {
            Logs =
                history.Names
                |> Seq.map (fun name -> name, List.ofSeq history.[name])
                |> Map.ofSeq
            StopReason = Option.ofObj history.StopReason
            Epochs = history.Epochs
            History = history
        }

    /// Trains on in-memory `data`; the logs per epoch and the reason training stopped early, if any.
    let fit (settings: FitSettings) (data: LabeledData) (model: Model) : FitResult =
        resultOf (model.Fit(data, optionsOf settings, settings.Cancellation))

    /// Trains on batches from a source (a stream's `Stream.toBatchSource`, say); BatchSize and
    /// Shuffle are the source's.
    let fitFrom (settings: FitSettings) (source: IBatchSource) (model: Model) : FitResult =
        resultOf (model.Fit(source, optionsOf settings, settings.Cancellation))

    /// Loss and metrics over `data`, in inference mode.
    let evaluate (data: LabeledData) (model: Model) : Map<string, float> =
        model.Evaluate(data) |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq

    /// The outputs for a batch of inputs (or one example without a batch dimension).
    let predict (inputs: torch.Tensor) (model: Model) : torch.Tensor = model.Predict inputs

    /// The outputs for inputs given as an F# tree value (a record of tensors named like the
    /// model's inputs, say), read into `template`'s shape of value (a record named like its outputs).
    let predictInto (template: 'Outputs) (inputs: 'Inputs) (model: Model) : 'Outputs =
        Tree.ofTree template (model.Predict(Tree.toTree inputs))

    /// Keras's summary table.
    let summary (model: Model) = model.Summary()

    /// The class names it carries, if any.
    let classNames (model: Model) : string list option =
        model.ClassNames |> Option.ofObj |> Option.map List.ofSeq

    /// Saves the network, its weights and its training configuration into `folder`.
    let save (folder: string) (model: Model) = ModelFile.Save(folder, model)

    /// The model saved in `folder`, with the optimizer, losses and metrics it was saved with.
    let load (folder: string) : Model = ModelFile.LoadModel folder
