/// Keras's TextVectorization: standardise, split, n-grams, a vocabulary adapted from a stream,
/// ids padded and truncated, multi-hot, counts and TF-IDF, saved in the model's generation and
/// applied identically after loading.
module Functional.PropertyTests.TextTests

open System
open System.IO
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Persistence
open Functional.Streams
open Functional.Streams.Text
open Functional.Training
open Functional.FSharp
open Support
open StreamSourceTests

let private corpus = [ "The cat sat."; "the dog"; "The cat!" ]

let private values (t: torch.Tensor) =
    t.to_type(torch.float64).data<float>().ToArray()

let tests =
    testList
        "text"
        [
            testCase
                "a vocabulary by falling frequency (ties in falling ordinal order, as Keras); ids padded, truncated, 1 for unknown"
            <| fun () ->
                let vectorizer = TextVectorizer(outputSequenceLength = 5)
                vectorizer.Adapt(Stream.ofSeq corpus)

                Expect.equal
                    (List.ofSeq vectorizer.Vocabulary)
                    [ ""; "[UNK]"; "the"; "cat"; "sat"; "dog" ]
                    "Keras's order"

                use ids = vectorizer.Apply [| "The CAT ate, the end"; "dog" |]

                Expect.equal
                    (ids.data<int64>().ToArray())
                    [| 2L; 3L; 1L; 2L; 1L; 5L; 0L; 0L; 0L; 0L |]
                    "standardised, looked up, padded with 0"

                let limited = TextVectorizer(maxTokens = 4)
                limited.Adapt corpus

                Expect.equal
                    (List.ofSeq limited.Vocabulary)
                    [ ""; "[UNK]"; "the"; "cat" ]
                    "maxTokens counts the reserved tokens"

                use ragged = limited.Apply [| "the"; "cat the the" |]
                Expect.equal (List.ofArray ragged.shape) [ 2L; 3L ] "no length given: the longest text's"

            testCase "multi-hot, counts, TF-IDF and n-grams as Keras computes them"
            <| fun () ->
                let vectorizer mode =
                    let v = TextVectorizer(outputMode = mode)
                    v.Adapt corpus
                    v

                let multiHot = vectorizer TextOutputMode.MultiHot
                Expect.equal (List.ofSeq multiHot.Vocabulary) [ "[UNK]"; "the"; "cat"; "sat"; "dog" ] "no padding token"
                Expect.equal (values (multiHot.Apply "cat cat bird")) [| 1.0; 0.0; 1.0; 0.0; 0.0 |] "multi-hot"

                Expect.equal
                    (values ((vectorizer TextOutputMode.Count).Apply "cat cat bird"))
                    [| 1.0; 0.0; 2.0; 0.0; 0.0 |]
                    "counts"

                let tfidf = vectorizer TextOutputMode.TfIdf
                let idf documentsWith = log (1.0 + 3.0 / (1.0 + documentsWith))
                let expected = [| idf 3.0; idf 2.0; idf 1.0; idf 1.0 |]

                Expect.equal
                    (tfidf.IdfWeights
                     |> Seq.skip 1
                     |> Seq.map float
                     |> Array.ofSeq
                     |> Array.map (fun w -> Math.Round(w, 5)))
                    (expected |> Array.map (fun w -> Math.Round(w, 5)))
                    "Keras's idf weights"

                let unknown = Array.average expected
                let got = values (tfidf.Apply "cat cat bird")
                Expect.floatClose Accuracy.medium got.[2] (2.0 * idf 2.0) "count x idf"
                Expect.floatClose Accuracy.medium got.[0] unknown "unknown tokens weigh the mean idf"
                let bigrams = TextVectorizer(ngrams = 2)

                Expect.equal
                    (List.ofSeq (bigrams.Tokens "The cat sat."))
                    [ "the"; "cat"; "sat"; "the cat"; "cat sat" ]
                    "n-grams after the tokens"

                let chars =
                    TextVectorizer(split = TextSplit.Character, standardize = TextStandardize.None)

                Expect.equal (List.ofSeq (chars.Tokens "ab")) [ "a"; "b" ] "characters"

            testCase "saved with the model in one generation; after loading, the same ids and the same predictions"
            <| fun () ->
                withFolder (fun folder ->
                    let vectorizer = TextVectorizer(maxTokens = 20, outputSequenceLength = 4)
                    vectorizer.Adapt corpus

                    use model =
                        new Model(
                            Sequential(Embedding(20L, 3L), Flatten(), Dense(2L)),
                            [| 4L |],
                            Loss.SparseCategoricalCrossEntropy(fromLogits = true),
                            Optimizer.Adam 1e-3
                        )

                    vectorizer.Save(folder, model)
                    let loaded = TextVectorizer.Load folder
                    use reloaded = ModelFile.LoadModel folder
                    let texts = [| "the cat"; "a dog sat on the cat" |]
                    use ids = vectorizer.Apply texts
                    use again = loaded.Apply texts
                    Expect.equal (again.data<int64>().ToArray()) (ids.data<int64>().ToArray()) "the same ids"
                    use before = model.Predict ids
                    use after = reloaded.Predict again
                    expectClose "the same predictions" 0.0 after before

                    ModelFile.Save(folder, model)

                    expectThrowsWith<InvalidDataException> [ "no asset 'text_vectorization'" ] (fun () ->
                        TextVectorizer.Load folder |> ignore))

            testCase "subword tokenisers from vocabulary files: WordPiece and BPE ids, padded, saved with the model"
            <| fun () ->
                withFolder (fun folder ->
                    let vocab = Path.Combine(folder, "vocab.txt")
                    File.WriteAllLines(vocab, [ "[PAD]"; "[UNK]"; "the"; "cat"; "##s"; "sat"; "on"; "mat" ])
                    let wordPiece = SubwordVectorizer.WordPiece(vocab, outputSequenceLength = 6)
                    use ids = wordPiece.Apply [| "the cats sat"; "the dog" |]

                    Expect.equal
                        (ids.data<int64>().ToArray())
                        [| 2L; 3L; 4L; 5L; 0L; 0L; 2L; 1L; 0L; 0L; 0L; 0L |]
                        "subwords, unknown words, padding"

                    let bpeVocab = Path.Combine(folder, "vocab.json")
                    let merges = Path.Combine(folder, "merges.txt")

                    File.WriteAllText(
                        bpeVocab,
                        "{\"l\": 0, \"o\": 1, \"w\": 2, \"lo\": 3, \"low\": 4, \"e\": 5, \"r\": 6, \"er\": 7}"
                    )

                    File.WriteAllLines(merges, [ "#version: 0.2"; "l o"; "lo w"; "e r" ])
                    let bpe = SubwordVectorizer.Bpe(bpeVocab, merges, outputSequenceLength = 4)
                    Expect.equal (List.ofSeq (bpe.Encode "lower")) [ 4; 7 ] "merges applied in order: low + er"

                    use model =
                        new Model(
                            Sequential(Embedding(8L, 2L), Flatten(), Dense(2L)),
                            [| 6L |],
                            Loss.SparseCategoricalCrossEntropy(fromLogits = true),
                            Optimizer.Adam 1e-3
                        )

                    let saved = Path.Combine(folder, "model")
                    wordPiece.Save(saved, model)
                    use again = (SubwordVectorizer.Load saved).Apply [| "the cats sat"; "the dog" |]

                    Expect.equal
                        (again.data<int64>().ToArray())
                        (ids.data<int64>().ToArray())
                        "the same ids after loading"

                    expectThrowsWith<FileNotFoundException> [ "nope.txt" ] (fun () ->
                        SubwordVectorizer.WordPiece(Path.Combine(folder, "nope.txt"), 4) |> ignore))

            testCase "bad input: no vocabulary yet, a damaged saved vectorizer, bad settings"
            <| fun () ->
                expectThrowsWith<InvalidOperationException> [ "no vocabulary yet" ] (fun () ->
                    TextVectorizer().Apply [| "x" |] |> ignore)

                expectThrowsWith<InvalidDataException> [ "Not a readable text vectorizer" ] (fun () ->
                    TextVectorizer.FromJson "{\"format\": 3}" |> ignore)

                expectThrowsWith<ArgumentOutOfRangeException> [ "at least 3" ] (fun () ->
                    TextVectorizer(maxTokens = 2) |> ignore)

                expectThrowsWith<ArgumentException> [ "outputSequenceLength is for Int output" ] (fun () ->
                    TextVectorizer(outputMode = TextOutputMode.MultiHot, outputSequenceLength = 3)
                    |> ignore)
        ]
