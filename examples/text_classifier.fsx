// A small text classifier trained from a text stream: short product reviews (generated from
// word lists, seeded) in a tab-separated file, read line by line; Keras's TextVectorization
// adapted on the stream turns them into ids; Embedding -> Flatten -> Dense learns the
// sentiment. The vectorizer is saved with the model and vectorises new text identically.
//   dotnet fsi examples/text_classifier.fsx -- --epochs 5
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Apache.Arrow.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Streams.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"

open System
open System.IO
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Streams
open Functional.Streams.Text
open Functional.FSharp

let epochs =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) "--epochs") with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> 5

// Reviews: "label<TAB>text", the label 1 when the review is positive.
let good =
    [|
        "great"
        "excellent"
        "love"
        "perfect"
        "wonderful"
        "happy"
        "recommend"
        "works"
    |]

let bad =
    [|
        "broken"
        "awful"
        "hate"
        "refund"
        "terrible"
        "disappointed"
        "useless"
        "returned"
    |]

let filler =
    [|
        "the"
        "this"
        "blender"
        "it"
        "was"
        "after"
        "a"
        "week"
        "and"
        "my"
        "kitchen"
        "really"
    |]

let reviews (seed: int) (count: int) =
    let random = Random seed

    [
        for _ in 1..count ->
            let positive = random.Next 2 = 1
            let words = if positive then good else bad
            let pick (list: string[]) = list.[random.Next list.Length]
            let other = if positive then bad else good
            // Three sentiment words, the last one of the other kind in a fifth of the reviews.
            let word i =
                if i = 9 && random.Next 5 = 0 then pick other
                elif i % 4 = 1 then pick words
                else pick filler

            let text = [ for i in 0..9 -> word i ] |> String.concat " "
            $"{(if positive then 1 else 0)}\t{text}."
    ]

let folder = Path.Combine(Path.GetTempPath(), $"text-classifier-{Guid.NewGuid():N}")
Directory.CreateDirectory folder |> ignore
let trainFile = Path.Combine(folder, "train.tsv")
File.WriteAllLines(trainFile, reviews 1 4000)

let parse (line: string) =
    let tab = line.IndexOf '\t'
    int64 line.[.. tab - 1], line.[tab + 1 ..]

// The vocabulary from the stream of texts (one pass), then batches of (ids, labels).
let vectorizer = TextVectorizer(maxTokens = 1000, outputSequenceLength = 12)
vectorizer.Adapt(Stream.ofTextLines trainFile |> Stream.map (parse >> snd))

let train =
    Stream.ofTextLines trainFile
    |> Stream.shuffleWith 7UL 4000
    |> Stream.batch 64
    |> Stream.map (fun lines ->
        let labels, texts = lines |> Array.map parse |> Array.unzip
        struct (vectorizer.Apply texts, torch.tensor labels))

use model =
    Embedding(int64 vectorizer.Vocabulary.Count, 16L)
    --> Flatten()
    --> Dense(16L, activation = ActivationFunction.Relu)
    --> Dense(2L)
    |> Model.compile
        (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
        (Optim.adam 5e-3)
        [ SparseCategoricalAccuracy() ]
        [| 12L |]

model
|> Model.fitFrom
    { FitSettings.defaults with
        Epochs = epochs
    }
    (Stream.toBatchSource train)
|> ignore

// Held-out reviews, vectorised the same way.
let testLabels, testTexts =
    reviews 2 1000 |> List.map parse |> Array.ofList |> Array.unzip

let accuracy =
    (model
     |> Model.evaluate (Data.ofTrees (vectorizer.Apply testTexts) (torch.tensor testLabels))).["accuracy"]

// Saved together; the loaded pair classifies raw text exactly as the trained one.
let saved = Path.Combine(folder, "model")
vectorizer.Save(saved, model)
let loadedVectorizer = TextVectorizer.Load saved
let loaded = Model.load saved

let sample =
    [|
        "i love this blender, it works great."
        "awful. it was broken after a week, refund please"
    |]

let before = model |> Model.predict (vectorizer.Apply sample)
let after = loaded |> Model.predict (loadedVectorizer.Apply sample)
Directory.Delete(folder, true)

printfn "sample_predictions=%s" (String.Join(",", before.argmax(1L).data<int64>().ToArray()))
printfn "test_accuracy=%.4f" accuracy
printfn "reloaded_max_abs_diff=%g" ((before - after).abs().max().item<float32>())
