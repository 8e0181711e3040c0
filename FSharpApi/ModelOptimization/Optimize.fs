namespace Functional.FSharp

open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training
open Functional.ModelOptimization

/// Magnitude pruning: a schedule, an optimizer transformation or a trained model to prune as it
/// trains on, and the plain (Strip) or smaller (Shrink) model it becomes.
[<RequireQualifiedAccess>]
module Prune =
    /// The same sparsity at every mask update from step 0 (tfmot's ConstantSparsity).
    let constant (sparsity: float) = PruningSchedule.Constant sparsity

    /// Sparsity rising from `initial` at `beginStep` to `final` at `endStep` (tfmot's PolynomialDecay).
    let polynomial (initial: float) (final: float) (beginStep: int64) (endStep: int64) =
        PruningSchedule.Polynomial(initial, final, beginStep, endStep)

    /// `optimizer` with magnitude pruning on `schedule` (masks in its state).
    let optimizer (schedule: PruningSchedule) (optimizer: GradientTransformation) =
        Pruning.Magnitude(optimizer, schedule)

    /// `optimizer` pruning whole units and channels of every kernel (for `shrink`), except the
    /// parameters `keep` names (keep the output layer: its units are the classes).
    let unitsOptimizer (schedule: PruningSchedule) (keep: string -> bool) (optimizer: GradientTransformation) =
        Pruning.Magnitude(
            optimizer,
            schedule,
            let kernels = PruningOptions.Kernels

            PruningOptions(
                Structure = PruningStructure.Units,
                Prunable = fun path -> kernels.Invoke path && not (keep path)
            )
        )

    /// A trained model set up to be pruned as it trains on (a new model; the optimizer state carries over).
    let model (schedule: PruningSchedule) (model: Model) = Pruning.Prune(model, schedule)

    /// The plain model with the masks folded into its weights.
    let strip (model: Model) = Pruning.Strip model

    /// The physically smaller network structured pruning made.
    let shrink (model: Model) = Pruning.Shrink model

    /// Sparsity per pruned parameter.
    let report (model: Model) = Pruning.Report model

/// int8 quantization of a trained model (each function returns a new model).
[<RequireQualifiedAccess>]
module Quantize =
    /// Post-training static quantization calibrated on `calibration` inputs (Dense and convolutions).
    let calibrated (calibration: torch.Tensor) (model: Model) = Quantization.Static(model, calibration)

    /// Static quantization with options (skip list, percentile calibration, per-tensor scales, folding).
    let calibratedWith (options: QuantizationOptions) (calibration: torch.Tensor) (model: Model) =
        Quantization.Static(model, calibration, options)

    /// Post-training dynamic quantization (Dense, recurrent and attention layers; no data).
    let dynamic (model: Model) = Quantization.Dynamic model

    /// int8 weights only.
    let weights (model: Model) = Quantization.WeightsOnly model

    /// A quantization-aware model to train with `Model.fit`, then `convert`.
    let aware (model: Model) = Quantization.PrepareForTraining model

    /// The int8 model of a trained quantization-aware model.
    let convert (model: Model) = Quantization.Convert model

/// Knowledge distillation from a frozen teacher.
[<RequireQualifiedAccess>]
module Distill =
    /// A student model of `network` that learns from `teacher` at `temperature` with weight
    /// `alpha` on its own `loss` (and 1 - alpha on the teacher's softened outputs).
    let student
        (teacher: Model)
        (temperature: float)
        (alpha: float)
        (loss: LossFunction)
        (optimizer: GradientTransformation)
        (metrics: Metric list)
        (network: ILayer)
        =
        Distiller(teacher, temperature, alpha).Student(network, teacher.InputShape, loss, optimizer, metrics)
