namespace Functional.Plots

open System
open System.IO
open System.Runtime.CompilerServices
open Plotly.NET
open TorchSharp
open Functional.Metrics
open Functional.Training

/// Charts of training and of a classifier's results, drawn with Plotly.NET (HTML and plotly.js;
/// no natives). Each returns a Plotly.NET `GenericChart`: save it with `SaveHtml`, show it with
/// Plotly.NET (`Chart.show`), or display it in a notebook.
[<Extension; AbstractClass; Sealed>]
type Charts =
    /// Training curves: a panel per quantity logged ("loss", "accuracy", ...), the training
    /// values and, when there are any, the validation ("val_") values in it, by epoch.
    [<Extension>]
    static member Plot(history: History) : GenericChart =
        ArgumentNullException.ThrowIfNull history

        if history.Epochs = 0 then
            invalidArg (nameof history) "The History has no epochs to plot."

        let names = List.ofSeq history.Names

        let quantities =
            names
            |> List.map (fun n -> if n.StartsWith "val_" then n.Substring 4 else n)
            |> List.distinct

        let epochs = [ 1 .. history.Epochs ]

        let panel quantity =
            [
                for name in [ quantity; "val_" + quantity ] do
                    if List.contains name names then
                        Chart.Line(x = epochs, y = history.[name], Name = name, ShowMarkers = true)
            ]
            |> Chart.combine
            |> Chart.withXAxisStyle (TitleText = "epoch")

        let columns = min 2 quantities.Length
        let rows = (quantities.Length + columns - 1) / columns

        quantities
        |> List.map panel
        |> Chart.Grid(nRows = rows, nCols = columns, SubPlotTitles = quantities)
        |> Chart.withSize (Width = 520 * columns, Height = 360 * rows)

    /// The confusion matrix as a heatmap of row shares (actual classes down, predicted across),
    /// each cell labelled with its count.
    [<Extension>]
    static member Plot(matrix: ConfusionMatrix) : GenericChart =
        ArgumentNullException.ThrowIfNull matrix
        let shares = matrix.RowShares()
        let classes = [ 0 .. matrix.Classes - 1 ]
        let names = List.ofSeq matrix.ClassNames

        Chart.AnnotatedHeatmap(
            zData = [ for i in classes -> [ for j in classes -> shares.[i, j] ] ],
            annotationText = [ for i in classes -> [ for j in classes -> string matrix.Counts.[i, j] ] ],
            X = names,
            Y = names,
            ReverseYAxis = true,
            ColorScale = StyleParam.Colorscale.Custom [ 0.0, Color.fromHex "#ffffff"; 1.0, Color.fromHex "#08306b" ]
        )
        |> Chart.withXAxisStyle (TitleText = "predicted")
        |> Chart.withYAxisStyle (TitleText = "actual")
        |> Chart.withTitle $"Confusion matrix (accuracy {matrix.Accuracy:P1})"
        |> Chart.withSize (Width = 560, Height = 520)

    /// The first `count` images (N, C, H, W; the first channel is drawn, in grey) with the
    /// model's prediction and the true class in each title ("7 (true 2)" when it is wrong).
    static member SamplePredictions
        (model: Model, images: torch.Tensor, targets: torch.Tensor, ?count: int)
        : GenericChart =
        ArgumentNullException.ThrowIfNull model
        ArgumentNullException.ThrowIfNull images
        ArgumentNullException.ThrowIfNull targets

        if images.dim () <> 4L then
            let shape = String.Join(", ", images.shape)
            invalidArg (nameof images) $"SamplePredictions takes images (N, C, H, W); got a tensor of shape ({shape})."

        let wanted = defaultArg count 8

        if wanted < 1 then
            invalidArg (nameof count) $"SamplePredictions draws at least one image; count was {wanted}."

        if images.shape.[0] = 0L then
            invalidArg (nameof images) "SamplePredictions needs at least one image."

        if targets.dim () = 0L || targets.shape.[0] <> images.shape.[0] then
            let shape = String.Join(", ", targets.shape)

            invalidArg
                (nameof targets)
                $"SamplePredictions needs a target per image ({images.shape.[0]}); got targets of shape ({shape})."

        use _ = torch.NewDisposeScope()
        let n = min wanted (int images.shape.[0])
        let shown = images.narrow (0L, 0L, int64 n)
        let predicted = model.Predict(shown).argmax(-1L).data<int64>().ToArray()

        let actual =
            targets.narrow(0L, 0L, int64 n).to_type(torch.int64).reshape(-1L).data<int64>().ToArray()

        let name (c: int64) =
            match model.ClassNames with
            | null -> string c
            | names -> names.[int c]

        let pixels = shown.select(1L, 0L).to_type(torch.float64)
        let height, width = int pixels.shape.[1], int pixels.shape.[2]

        let image i =
            let values = pixels.[int64 i].data<float>().ToArray()

            Chart.Heatmap(
                zData =
                    [
                        for y in 0 .. height - 1 -> [ for x in 0 .. width - 1 -> values.[y * width + x] ]
                    ],
                ColorScale = StyleParam.Colorscale.Greys,
                ReverseScale = true,
                ReverseYAxis = true,
                ShowScale = false
            )

        let titles =
            [
                for i in 0 .. n - 1 ->
                    if predicted.[i] = actual.[i] then
                        name predicted.[i]
                    else
                        $"{name predicted.[i]} (true {name actual.[i]})"
            ]

        let columns = min n 8

        [ for i in 0 .. n - 1 -> image i ]
        |> Chart.Grid(nRows = (n + columns - 1) / columns, nCols = columns, SubPlotTitles = titles)
        |> Chart.withSize (Width = 120 * columns, Height = 140 * ((n + columns - 1) / columns))

    /// The chart as a standalone HTML page (plotly.js loaded from its CDN, or embedded whole
    /// with `embedPlotly` for pages read offline, about 3.5 MB more), written atomically.
    [<Extension>]
    static member SaveHtml(chart: GenericChart, path: string, ?embedPlotly: bool) : unit =
        ArgumentNullException.ThrowIfNull path
        let html = Charts.ToHtml(chart, ?embedPlotly = embedPlotly)
        let bytes = Text.Encoding.UTF8.GetBytes html
        Functional.Persistence.AtomicFile.Write(path, fun stream -> stream.Write(bytes, 0, bytes.Length))

    /// The chart as a standalone HTML page (see `SaveHtml`).
    [<Extension>]
    static member ToHtml(chart: GenericChart, ?embedPlotly: bool) : string =
        ArgumentNullException.ThrowIfNull chart

        let chart =
            if defaultArg embedPlotly false then
                chart
                |> Chart.withDisplayOptionsStyle (PlotlyJSReference = PlotlyJSReference.Full)
            else
                chart

        GenericChart.toEmbeddedHTML chart
