/// Losses: gradients against finite differences and known values. Metrics: known values and
/// the accumulator laws.
module Functional.PropertyTests.LossAndMetricTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees
open Functional.Losses
open Functional.Metrics
open Functional.Verification
open Functional.FSharp.Testing
open Support

/// Predictions (batch, classes) in a range, with matching targets made by `target`.
let private batchOf (low: float) (high: float) =
    gen {
        let! batch = Gen.choose (1, 4)
        let! classes = Gen.choose (2, 4)
        let! p = Generators.tensorOfShape [| int64 batch; int64 classes |] low high
        let! t = Generators.tensorOfShape [| int64 batch; int64 classes |] 0.05 0.95
        let! labels = Gen.arrayOfLength batch (Gen.choose (0, classes - 1))
        return p, t, labels
    }

let private gradCheck (loss: LossFunction) (predictions: torch.Tensor) (targets: torch.Tensor) =
    let report =
        GradCheck.Check(Func<torch.Tensor, torch.Tensor>(fun p -> loss.Invoke(p, targets)), predictions)

    if not report.Passed then
        failtestf "%s: %O" loss.Name report

    true

let private lossProperty name low high (check: torch.Tensor -> torch.Tensor -> int[] -> bool) =
    testPropertyWithConfig
        config
        name
        (Prop.forAll (Arb.fromGen (batchOf low high)) (fun (p, t, labels) ->
            scoped (fun () -> check (p.ToTensor()) (t.ToTensor()) labels)))

let private probabilities (t: torch.Tensor) = t / t.sum (-1L, keepdim = true)

let gradientTests =
    testList
        "loss gradients match finite differences"
        [
            lossProperty "mean squared error" -2.0 2.0 (fun p t _ -> gradCheck Loss.MeanSquaredError p t)
            lossProperty "mean absolute error (away from 0)" 1.0 2.0 (fun p t _ -> gradCheck Loss.MeanAbsoluteError p t)
            lossProperty "huber" -3.0 3.0 (fun p t _ -> gradCheck (Loss.Huber 1.0) p t)
            lossProperty "binary cross-entropy from logits" -3.0 3.0 (fun p t _ ->
                gradCheck (Loss.BinaryCrossEntropy true) p t)
            lossProperty "binary cross-entropy from probabilities" 0.05 0.95 (fun p t _ ->
                gradCheck (Loss.BinaryCrossEntropy false) p t)
            lossProperty "categorical cross-entropy from logits" -3.0 3.0 (fun p t _ ->
                gradCheck (Loss.CategoricalCrossEntropy true) p (probabilities t))
            lossProperty "categorical cross-entropy from probabilities" 0.05 0.95 (fun p t _ ->
                gradCheck (Loss.CategoricalCrossEntropy false) (probabilities p) (probabilities t))
            lossProperty "sparse categorical cross-entropy from logits" -3.0 3.0 (fun p _ labels ->
                gradCheck (Loss.SparseCategoricalCrossEntropy true) p (torch.tensor (labels |> Array.map int64)))
            lossProperty "KL divergence" 0.05 0.95 (fun p t _ ->
                gradCheck Loss.KLDivergence (probabilities p) (probabilities t))
        ]

let valueTests =
    testList
        "loss values"
        [
            testCase "known values"
            <| fun () ->
                scoped (fun () ->
                    let p = torch.tensor([| 0.0; 2.0 |], dtype = torch.float64).reshape(2L, 1L)
                    let t = torch.tensor([| 1.0; 0.0 |], dtype = torch.float64).reshape(2L, 1L)
                    expectClose "mse" 1e-12 (Loss.MeanSquaredError.Invoke(p, t)) (scalar 2.5)
                    expectClose "mae" 1e-12 (Loss.MeanAbsoluteError.Invoke(p, t)) (scalar 1.5)
                    // huber(1): 0.5 * 1^2 and 1 * (2 - 0.5)
                    expectClose "huber" 1e-12 ((Loss.Huber 1.0).Invoke(p, t)) (scalar ((0.5 + 1.5) / 2.0))

                    let logits =
                        torch.tensor([| 2.0; 0.0; 0.0 |], dtype = torch.float64).reshape(1L, 3L)

                    let expected = -(2.0 - log (exp 2.0 + 2.0))

                    expectClose
                        "sparse cce"
                        1e-12
                        ((Loss.SparseCategoricalCrossEntropy true).Invoke(logits, torch.tensor ([| 0L |])))
                        (scalar expected)

                    expectClose
                        "cce = sparse cce for one-hot targets"
                        1e-12
                        ((Loss.CategoricalCrossEntropy true)
                            .Invoke(logits, torch.tensor([| 1.0; 0.0; 0.0 |], dtype = torch.float64).reshape(1L, 3L)))
                        (scalar expected))

            testCase "mismatched shapes and bad class indices name the loss"
            <| fun () ->
                scoped (fun () ->
                    expectThrowsWith<ArgumentException> [ "mean_squared_error"; "(2, 3)"; "(2, 1)" ] (fun () ->
                        Loss.MeanSquaredError.Invoke(torch.ones (2L, 3L), torch.ones (2L, 1L)) |> ignore)

                    expectThrowsWith<ArgumentException>
                        [ "sparse_categorical_cross_entropy"; "[0, 3)"; "5" ]
                        (fun () ->
                            (Loss.SparseCategoricalCrossEntropy true)
                                .Invoke(torch.ones (2L, 3L), torch.tensor ([| 0L; 5L |]))
                            |> ignore)

                    expectThrowsWith<ArgumentException> [ "3 examples"; "(2)" ] (fun () ->
                        Loss.MeanSquaredError.Invoke(torch.ones (3L, 1L), torch.ones (2L)) |> ignore))
        ]

let private scores = torch.tensor ([| 0.9f; 0.8f; 0.3f; 0.6f; 0.2f; 0.1f |])
let private truth = torch.tensor ([| 1.0f; 0.0f; 1.0f; 1.0f; 0.0f; 0.0f |])

let private result (metric: Metric) (p: torch.Tensor) (t: torch.Tensor) =
    metric.Result(metric.Update(metric.Init(), p, t))

let metricTests =
    testList
        "metrics"
        [
            testCase "known values"
            <| fun () ->
                scoped (fun () ->
                    let logits = torch.tensor([| 0.1f; 0.9f; 0.8f; 0.2f; 0.3f; 0.7f |]).reshape(3L, 2L)
                    let labels = torch.tensor ([| 1L; 0L; 0L |])

                    Expect.floatClose
                        Accuracy.high
                        (result (SparseCategoricalAccuracy()) logits labels)
                        (2.0 / 3.0)
                        "sparse accuracy"

                    Expect.floatClose Accuracy.high (result (TopKAccuracy 2) logits labels) 1.0 "top-2"
                    // threshold 0.5: predicted positive 0.9, 0.8, 0.6 -> TP 2 (0.9, 0.6), FP 1 (0.8), FN 1 (0.3)
                    Expect.floatClose Accuracy.high (result (Precision()) scores truth) (2.0 / 3.0) "precision"
                    Expect.floatClose Accuracy.high (result (Recall()) scores truth) (2.0 / 3.0) "recall"
                    Expect.floatClose Accuracy.high (result (F1Score()) scores truth) (2.0 / 3.0) "f1"

                    Expect.floatClose
                        Accuracy.high
                        (result (BinaryAccuracy()) scores truth)
                        (4.0 / 6.0)
                        "binary accuracy"
                    // AUC: of the 9 (positive, negative) pairs, the positive scores higher in 7.
                    Expect.floatClose
                        { absolute = 1e-3; relative = 0.0 }
                        (result (Auc 1001) scores truth)
                        (7.0 / 9.0)
                        "auc"

                    Expect.floatClose
                        Accuracy.high
                        (result (MeanAbsoluteError()) scores truth)
                        ((0.1 + 0.8 + 0.7 + 0.4 + 0.2 + 0.1) / 6.0)
                        "mae"

                    Expect.floatClose
                        Accuracy.medium
                        (result (RootMeanSquaredError()) (vector [ 1.0; 3.0 ]) (vector [ 0.0; 0.0 ]))
                        (sqrt 5.0)
                        "rmse")

            testPropertyWithConfig config "merge (update a) (update b) = update (update a) b"
            <| fun (split: int) ->
                scoped (fun () ->
                    let cut = 1 + abs split % 5

                    let metrics: Metric list =
                        [ SparseCategoricalAccuracy(); Auc(); Precision(); RootMeanSquaredError() ]

                    for metric in metrics do
                        let p, t =
                            match metric with
                            | :? SparseCategoricalAccuracy ->
                                torch.rand (6L, 3L), torch.tensor ([| 0L; 1L; 2L; 1L; 0L; 2L |])
                            | _ -> scores.reshape (6L), truth

                        let a, b = p.narrow (0L, 0L, int64 cut), p.narrow (0L, int64 cut, int64 (6 - cut))
                        let ta, tb = t.narrow (0L, 0L, int64 cut), t.narrow (0L, int64 cut, int64 (6 - cut))

                        let merged =
                            metric.Merge(metric.Update(metric.Init(), a, ta), metric.Update(metric.Init(), b, tb))

                        let sequential = metric.Update(metric.Update(metric.Init(), a, ta), b, tb)
                        Expect.floatClose Accuracy.high (metric.Result merged) (metric.Result sequential) metric.Name)
        ]

let private newMetricTests =
    testList
        "r2 and binary accuracy from logits"
        [
            testCase "binary metrics given class scores say so instead of failing in libtorch"
            <| fun () ->
                scoped (fun () ->
                    for metric in [ Precision() :> Metric; Recall(); F1Score(); Auc() ] do
                        expectThrowsWith<ArgumentException> [ metric.Name; "0/1 target"; "(4, 3)" ] (fun () ->
                            metric.Update(metric.Init(), torch.rand (4L, 3L), torch.ones (4L)) |> ignore)
                        // (batch, 1) scores against (batch) targets are one per target.
                        metric.Update(metric.Init(), torch.rand (4L, 1L), torch.ones (4L)) |> ignore)

            testCase "R2 is 1 - SSres / SStot, accumulated over batches"
            <| fun () ->
                scoped (fun () ->
                    let t = torch.tensor([| 3.0f; -0.5f; 2.0f; 7.0f |]).reshape(4L, 1L)
                    let p = torch.tensor([| 2.5f; 0.0f; 2.0f; 8.0f |]).reshape(4L, 1L)
                    let metric = R2Score()

                    let state =
                        metric.Update(
                            metric.Update(metric.Init(), p.narrow (0L, 0L, 2L), t.narrow (0L, 0L, 2L)),
                            p.narrow (0L, 2L, 2L),
                            t.narrow (0L, 2L, 2L)
                        )
                    // scikit-learn's documented example: r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) = 0.9486...
                    Expect.floatClose Accuracy.high (metric.Result state) 0.9486081370449679 "sklearn's example"
                    Expect.equal metric.HigherIsBetter (Nullable true) "higher is better")

            testCase "BinaryAccuracy from logits equals it on probabilities, at any threshold"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(4UL)
                    let logits = torch.randn ([| 64L; 1L |], generator = rng) * 3.0

                    let targets =
                        torch.randint(0L, 2L, [| 64L; 1L |], generator = rng).to_type torch.float32

                    for threshold in [ 0.2; 0.5; 0.8 ] do
                        let onLogits = BinaryAccuracy(threshold, fromLogits = true)
                        let onProbabilities = BinaryAccuracy(threshold)
                        let a = onLogits.Result(onLogits.Update(onLogits.Init(), logits, targets))

                        let b =
                            onProbabilities.Result(
                                onProbabilities.Update(onProbabilities.Init(), logits.sigmoid (), targets)
                            )

                        Expect.floatClose Accuracy.high a b $"threshold {threshold}")
        ]

let tests =
    testList "losses and metrics" [ gradientTests; valueTests; metricTests; newMetricTests ]
