/// Image operations (laws: flips and half turns, identities, luma weights), decoding with a
/// bad-image policy, and augmentation seeded per (seed, epoch, element).
module Functional.PropertyTests.ImageTests

open System
open System.IO
open Expecto
open TorchSharp
open SixLabors.ImageSharp
open SixLabors.ImageSharp.PixelFormats
open Functional.Images
open Functional.Streams
open Functional.FSharp
open Support
open StreamSourceTests
open Functional.Streams.Tables

let private image (seed: int64) =
    torch.manual_seed seed |> ignore
    torch.rand (3L, 8L, 10L)

let private same (a: torch.Tensor) (b: torch.Tensor) =
    a.shape = b.shape && a.eq(b).all().item<bool>()

/// Writes a solid-colour image (PNG or JPEG by the name) of width x height.
let private writeImage (path: string) (width: int) (height: int) (colour: Rgb24) =
    use img = new Image<Rgb24>(width, height, colour)

    if path.EndsWith ".jpg" then
        img.SaveAsJpeg path
    else
        img.SaveAsPng path

let tests =
    testList
        "images"
        [
            testCase "gray is the luma of Keras, torchvision and Pillow, not the mean of R, G and B"
            <| fun () ->
                use rgb = torch.tensor([| 1.0f; 0.0f; 0.5f |]).view(3L, 1L, 1L)
                use gray = ImageOps.Grayscale rgb

                Expect.floatClose
                    Accuracy.high
                    (float (gray.item<float32>()))
                    (0.2989 + 0.114 * 0.5)
                    "0.2989 R + 0.587 G + 0.114 B"

                withFolder (fun folder ->
                    let path = Path.Combine(folder, "red.png")
                    writeImage path 4 3 (Rgb24(255uy, 0uy, 0uy))
                    use decoded = DataStream.DecodeImage(path, 4, 3, 1)
                    Expect.equal (List.ofArray decoded.shape) [ 1L; 3L; 4L ] "one channel"

                    Expect.floatClose
                        Accuracy.medium
                        (float (decoded.mean().item<float32>()))
                        0.2989
                        "a red image is 0.2989 gray")

            testCase "half a turn is both flips; no turn, zoom or shift is the image; flips undo themselves"
            <| fun () ->
                use x = image 1L
                use turned = ImageOps.Affine(x, Math.PI)
                use flipped = (ImageOps.FlipHorizontal x).flip(-2L)
                expectClose "a half turn" 1e-5 turned flipped
                use still = ImageOps.Affine(x, 0.0)
                expectClose "the identity" 1e-5 still x
                use twice = ImageOps.FlipVertical(ImageOps.FlipVertical x)
                Expect.isTrue (same twice x) "flipping twice"
                use batch = torch.stack [| x; x |]
                use batchTurned = ImageOps.Affine(batch, Math.PI)
                expectClose "batched like single images" 1e-5 (batchTurned.[0L]) turned

            testCase
                "a quarter turn of a wide image turns a horizontal ramp into a vertical one of the same slope, in pixels"
            <| fun () ->
                // A ramp rising 1 per pixel from left to right, on a 4 x 8 image.
                use ramp = torch.arange(8.0f).expand(1L, 4L, 8L).contiguous()
                use turned = ImageOps.Affine(ramp, Math.PI / 2.0)

                let at (y: int64) (x: int64) =
                    float (turned.[0L, y, x].item<float32>())

                Expect.floatClose Accuracy.medium (abs (at 2L 4L - at 1L 4L)) 1.0 "one per pixel down the middle column"
                Expect.floatClose Accuracy.medium (at 1L 3L) (at 1L 4L) "constant along a row"

            testCase "resize, crops, brightness, contrast and normalisation"
            <| fun () ->
                use x = image 2L
                Expect.equal (ImageOps.Resize(x, 4, 5).shape |> List.ofArray) [ 3L; 4L; 5L ] "resized"
                use centre = ImageOps.CenterCrop(x, 4, 4)
                Expect.isTrue (same centre (x.narrow(1L, 2L, 4L).narrow(2L, 3L, 4L))) "the central window"

                Expect.equal
                    (ImageOps.CenterCrop(x, 16, 16).shape |> List.ofArray)
                    [ 3L; 16L; 16L ]
                    "a larger crop resizes first"

                use bright = ImageOps.AdjustBrightness(x, 2.0)
                Expect.equal (bright.min().item<float32>()) 1.0f "kept in [0, 1]"
                use flat = ImageOps.AdjustContrast(x, 0.0)

                expectClose
                    "no contrast: each channel's mean"
                    1e-6
                    flat
                    (x.mean([| 1L; 2L |], keepdim = true).expand_as x)

                use normal = ImageOps.Normalize(x, [| 0.5f; 0.5f; 0.5f |], [| 0.5f; 0.5f; 0.5f |])
                expectClose "(x - 0.5) / 0.5" 1e-6 normal (x.mul(2.0f.ToScalar()).sub(1.0f.ToScalar()))

                expectThrowsWith<ArgumentException> [ "[channels, height, width]"; "[8, 10]" ] (fun () ->
                    ImageOps.FlipHorizontal(torch.rand (8L, 10L)) |> ignore)

                expectThrowsWith<ArgumentException> [ "floating-point"; "Byte" ] (fun () ->
                    ImageOps.Resize(torch.zeros (3L, 4L, 4L, dtype = torch.uint8), 2, 2) |> ignore)

                expectThrowsWith<ArgumentException> [ "3 channels" ] (fun () ->
                    ImageOps.Grayscale(torch.rand (1L, 4L, 4L)) |> ignore)

                expectThrowsWith<ArgumentException> [ "does not fit" ] (fun () ->
                    ImageOps.Crop(x, 5, 0, 4, 4) |> ignore)

            testCase "bad images: an error naming the file, or skipped and counted"
            <| fun () ->
                withFolder (fun folder ->
                    let cls = Path.Combine(folder, "a")
                    Directory.CreateDirectory cls |> ignore
                    writeImage (Path.Combine(cls, "1.png")) 6 5 (Rgb24(10uy, 20uy, 30uy))
                    writeImage (Path.Combine(cls, "2.jpg")) 7 7 (Rgb24(200uy, 100uy, 0uy))
                    let png = File.ReadAllBytes(Path.Combine(cls, "1.png"))
                    File.WriteAllBytes(Path.Combine(cls, "3.png"), png.[.. png.Length / 2])
                    File.WriteAllText(Path.Combine(cls, "4.png"), "not an image")

                    expectThrowsWith<StreamException> [ "3.png" ] (fun () ->
                        DataStream.ImageFolder(folder, 4, 4).Enumerate()
                        |> Seq.iter (fun struct (x, y) ->
                            x.Dispose()
                            y.Dispose()))

                    let skipped = Collections.Concurrent.ConcurrentBag<string>()

                    let stream =
                        DataStream.ImageFolder(
                            folder,
                            4,
                            4,
                            badImages = BadImagePolicy.Skip,
                            onSkipped = fun path _ -> skipped.Add(Path.GetFileName path)
                        )

                    let images = stream.Enumerate() |> List.ofSeq
                    Expect.equal images.Length 2 "the PNG and the JPEG"

                    Expect.isLessThan
                        (abs (float ((fst (images.[1].ToTuple())).[0L].mean().item<float32>()) - 200.0 / 255.0))
                        0.02
                        "the JPEG's red (lossy)"

                    Expect.equal (skipped |> Seq.sort |> List.ofSeq) [ "3.png"; "4.png" ] "each skipped file named"
                    let counters = stream.Stages |> Seq.find (fun s -> s.Name = "skip bad images")
                    Expect.equal (counters.Snapshot().Dropped) 2L "and counted"

                    for struct (x, y) in images do
                        x.Dispose()
                        y.Dispose())

            testCase
                "augmentation is drawn from (seed, epoch, element): reproducible, new each epoch, the same on any number of workers"
            <| fun () ->
                let augmentation =
                    ImageAugmentation(
                        FlipHorizontal = true,
                        Rotation = 0.1,
                        Zoom = 0.2,
                        Translation = 0.1,
                        Brightness = 0.1,
                        Contrast = 0.3,
                        CropHeight = 6,
                        CropWidth = 6
                    )

                let images = Stream.ofSeq [ 1L .. 8L ] |> Stream.map image

                let run parallelism epoch =
                    images.Augment(augmentation, 7UL, parallelism).Enumerate(epoch) |> Array.ofSeq

                let first, again, serial, next =
                    run Parallelism.Auto 0, run Parallelism.Auto 0, run 1 0, run 1 1

                Expect.isTrue (Array.forall2 same first again) "same seed and epoch: the same images"
                Expect.isTrue (Array.forall2 same first serial) "whatever the number of workers"
                Expect.isFalse (Array.forall2 same first next) "another epoch draws again"
                Expect.equal (List.ofArray first.[0].shape) [ 3L; 6L; 6L ] "the random crop's size"

                Expect.isFalse
                    (Array.pairwise first |> Array.exists (fun (a, b) -> same a b))
                    "each element its own draws"

                let batched =
                    (images |> Stream.map (fun x -> struct (x, torch.tensor 0L)))
                        .Batch(3)
                        .Stack()
                        .AugmentBatches(augmentation, 7UL)
                        .Enumerate()
                    |> Seq.collect (fun struct (x, _) -> [ for i in 0L .. x.shape.[0] - 1L -> x.[i] ])
                    |> Array.ofSeq

                Expect.equal batched.Length 8 "every image"

                for i in 0..7 do
                    expectClose $"batched image {i} equals the one-by-one augmentation" 1e-5 batched.[i] first.[i]

                expectThrowsWith<ArgumentException> [ "both a height and a width" ] (fun () ->
                    images.Augment(ImageAugmentation(CropHeight = 4), 1UL) |> ignore)

                expectThrowsWith<ArgumentOutOfRangeException> [ "Rotation" ] (fun () ->
                    images.Augment(ImageAugmentation(Rotation = 3.0), 1UL) |> ignore)
        ]
