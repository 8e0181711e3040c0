/// The laws of stream operators, as FsCheck properties over small integer streams.
module Functional.PropertyTests.StreamLawTests

open System
open System.Threading
open Expecto
open FsCheck
open Functional.Streams
open Functional.FSharp
open Support

let private ofList (xs: int list) = Stream.ofSeq xs

/// A positive size in [1, 9].
let private size (n: PositiveInt) = (n.Get - 1) % 9 + 1

let tests =
    testList
        "stream laws"
        [
            testPropertyWithConfig config "unbatch (batch n s) = s"
            <| fun (xs: int list) (n: PositiveInt) ->
                let back = ofList xs |> Stream.batch (size n) |> Stream.unbatch |> Stream.toList
                Expect.equal back xs "round trip"

            testPropertyWithConfig config "batch n gives full batches of n, then the rest"
            <| fun (xs: int list) (n: PositiveInt) ->
                let batches = ofList xs |> Stream.batch (size n) |> Stream.toList

                Expect.isTrue
                    (batches |> List.forall (fun b -> b.Length = size n)
                     || (batches
                         |> List.take (batches.Length - 1)
                         |> List.forall (fun b -> b.Length = size n)))
                    "every batch but the last is full"

                Expect.equal (batches |> List.sumBy Array.length) xs.Length "no element lost"

            testPropertyWithConfig config "shuffle is a permutation, fixed by its seed"
            <| fun (xs: int list) (n: PositiveInt) (seed: uint64) ->
                let shuffled = ofList xs |> Stream.shuffleWith seed (size n * 3)
                let once = Stream.toList shuffled
                Expect.equal (List.sort once) (List.sort xs) "same elements"
                Expect.equal (Stream.toList shuffled) once "same seed, same epoch: same order"

            testCase "shuffle draws a new order each epoch, and the same order for the same epoch"
            <| fun () ->
                let s = ofList [ 0..99 ] |> Stream.shuffleWith 7UL 100
                let epoch e = s.Enumerate(e) |> List.ofSeq
                Expect.notEqual (epoch 0) (epoch 1) "epochs differ"
                Expect.equal (epoch 1) (epoch 1) "an epoch repeats"
                Expect.notEqual (epoch 0) [ 0..99 ] "it shuffles"
                let fixedOrder = (ofList [ 0..99 ]).Shuffle(100, 7UL, reshuffleEachEpoch = false)

                Expect.equal
                    (fixedOrder.Enumerate(0) |> List.ofSeq)
                    (fixedOrder.Enumerate(5) |> List.ofSeq)
                    "no reshuffle: one order"

            testPropertyWithConfig config "take n and skip n split a stream"
            <| fun (xs: int list) (n: NonNegativeInt) ->
                let s = ofList xs
                let k = int64 n.Get

                Expect.equal
                    ((s |> Stream.take k |> Stream.toList) @ (s |> Stream.skip k |> Stream.toList))
                    xs
                    "take @ skip = s"

            testPropertyWithConfig config "map fusion: map g (map f s) = map (g << f) s"
            <| fun (xs: int list) ->
                let f x = x * 3 + 1
                let g x = x - 7

                Expect.equal
                    (ofList xs |> Stream.map f |> Stream.map g |> Stream.toList)
                    (ofList xs |> Stream.map (f >> g) |> Stream.toList)
                    "fused"

            testPropertyWithConfig config "shards are disjoint and together hold the input"
            <| fun (xs: int list) (n: PositiveInt) ->
                let count = size n

                let shards =
                    [
                        for i in 0 .. count - 1 ->
                            Stream.ofSeq (List.indexed xs) |> Stream.shard count i |> Stream.toList
                    ]

                let all = List.concat shards
                Expect.equal (List.sort all) (List.indexed xs) "together: every element once"
                Expect.equal (all |> List.distinct |> List.length) xs.Length "disjoint"

            testPropertyWithConfig config "a cache replays exactly what it saw, without reading again"
            <| fun (xs: int list) ->
                let mutable runs = 0

                let source =
                    Stream.ofGenerator (fun () ->
                        runs <- runs + 1
                        Seq.ofList xs)

                let cached = source |> Stream.map (fun x -> x * 2) |> Stream.cache
                let first = Stream.toList cached
                let second = Stream.toList cached
                Expect.equal second first "replayed"
                Expect.equal first (xs |> List.map (fun x -> x * 2)) "what it saw"
                Expect.equal runs 1 "the source was read once"

            testCase "a cache abandoned halfway caches nothing"
            <| fun () ->
                let mutable runs = 0

                let cached =
                    Stream.ofGenerator (fun () ->
                        runs <- runs + 1
                        Seq.ofList [ 1..10 ])
                    |> Stream.cache

                Expect.equal (cached.Enumerate() |> Seq.take 3 |> List.ofSeq) [ 1; 2; 3 ] "partial run"
                Expect.equal (Stream.toList cached) [ 1..10 ] "a complete run"
                Expect.equal (Stream.toList cached) [ 1..10 ] "replayed"
                Expect.equal runs 2 "read twice: the partial run was not cached"

            testPropertyWithConfig config "threaded ordered map equals sequential map"
            <| fun (xs: int list) (n: PositiveInt) ->
                within 60.0 (fun () ->
                    // Costs vary per element, so workers finish out of order.
                    let slow x =
                        Thread.SpinWait((abs x % 7) * 200)
                        x * x - 1

                    let sequential = ofList xs |> Stream.map slow |> Stream.toList

                    Expect.equal
                        (ofList xs |> Stream.mapParallel (size n % 4 + 1) slow |> Stream.toList)
                        sequential
                        "same order"

                    Expect.equal
                        (ofList xs |> Stream.mapUnordered 3 slow |> Stream.toList |> List.sort)
                        (List.sort sequential)
                        "unordered: same elements")

            testCase "automatic parallelism adds workers while the map is the bottleneck, and only then"
            <| fun () ->
                let slow x =
                    Thread.Sleep 2
                    x

                let heavy = (ofList [ 1..200 ]).Map(slow, Parallelism.Auto)
                Expect.equal (Stream.toList heavy) [ 1..200 ] "same result, in order"
                // On one core Auto is the sequential map, which has no workers.
                let perCore =
                    if Environment.ProcessorCount > 1 then
                        Environment.ProcessorCount
                    else
                        0

                Expect.equal (heavy.Stats.Snapshot().Workers) perCore "a slow map grows to one worker per core"
                let light = (ofList [ 1..200 ]).Map((fun x -> x + 1), Parallelism.Auto)

                for _ in light.Enumerate() do
                    Thread.Sleep 1 // the consumer is the bottleneck

                Expect.equal (light.Stats.Snapshot().Workers) (min perCore 1) "a cheap map stays at one worker"

            testPropertyWithConfig config "prefetch changes nothing but timing"
            <| fun (xs: int list) (n: PositiveInt) ->
                within 60.0 (fun () ->
                    Expect.equal
                        (ofList xs |> Stream.prefetch (size n) |> Stream.toList)
                        xs
                        "same elements, same order")

            testPropertyWithConfig config "zip pairs up to the shorter; concat appends; repeat n repeats"
            <| fun (xs: int list) (ys: int list) (n: PositiveInt) ->
                let zipped =
                    ofList xs
                    |> Stream.zip (ofList ys)
                    |> Stream.toList
                    |> List.map (fun struct (a, b) -> (a, b))

                Expect.equal zipped (List.zip (List.truncate ys.Length xs) (List.truncate xs.Length ys)) "zip"
                Expect.equal (ofList xs |> Stream.concat (ofList ys) |> Stream.toList) (xs @ ys) "concat"

                Expect.equal
                    (ofList xs |> Stream.repeat (size n) |> Stream.toList)
                    (List.replicate (size n) xs |> List.concat)
                    "repeat"

            testPropertyWithConfig config "windows of size k, shift s, start every s elements"
            <| fun (xs: int list) (k: PositiveInt) (s: PositiveInt) ->
                let k, s = size k, size s
                let windows = ofList xs |> Stream.window k s |> Stream.toList

                let expected =
                    [
                        for start in 0..s .. xs.Length - 1 -> xs |> List.skip start |> List.truncate k |> Array.ofList
                    ]

                Expect.equal windows expected "windows"

            testPropertyWithConfig config "interleave takes one element from each open source in turn, in a fixed order"
            <| fun (lengths: PositiveInt list) (cycle: PositiveInt) ->
                within 60.0 (fun () ->
                    let sources =
                        lengths
                        |> List.truncate 5
                        |> List.mapi (fun i n -> [ for j in 1 .. size n -> i * 100 + j ])

                    if not sources.IsEmpty then
                        let streams = sources |> List.map Stream.ofSeq |> Array.ofList

                        let threaded =
                            DataStream.Interleave(streams, size cycle % 3 + 1, true) |> Stream.toList

                        let serial =
                            DataStream.Interleave(streams, size cycle % 3 + 1, false) |> Stream.toList

                        Expect.equal threaded serial "the order does not depend on threads"
                        Expect.equal (List.sort threaded) (List.sort (List.concat sources)) "every element once"

                        for source in sources do
                            Expect.equal
                                (threaded |> List.filter (fun x -> List.contains x source))
                                source
                                "each source keeps its order")
        ]
