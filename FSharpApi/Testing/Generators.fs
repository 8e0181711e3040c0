namespace Functional.FSharp.Testing

open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees

/// A tensor's recipe: shape and values as plain data, so FsCheck prints counterexamples
/// readably and shrinks them; `ToTensor` makes the float64 tensor.
type TensorSample =
    {
        Shape: int64[]
        Values: float[]
    }

    member this.ToTensor() : torch.Tensor =
        torch.tensor(this.Values, dtype = torch.float64).reshape(this.Shape)

    override this.ToString() = $"%A{this.Shape} %A{this.Values}"

/// A tree's recipe: paths with tensor samples.
type TreeSample =
    {
        Leaves: (string * TensorSample) list
    }

    member this.ToTree() : TensorTree =
        TensorTree.FromLeaves(this.Leaves |> List.map (fun (p, s) -> struct (p, s.ToTensor())))

    override this.ToString() =
        this.Leaves |> List.map (fun (p, s) -> $"{p}: {s}") |> String.concat "; "

/// FsCheck generators for tensors and trees of random shapes and values.
[<RequireQualifiedAccess>]
module Generators =
    /// A shape of rank 0..maxRank with each dimension in 1..maxDim.
    let shape (maxRank: int) (maxDim: int) : Gen<int64[]> =
        gen {
            let! rank = Gen.choose (0, maxRank)
            let! dims = Gen.arrayOfLength rank (Gen.choose (1, maxDim))
            return dims |> Array.map int64
        }

    /// A float in [low, high] on a grid of a million steps.
    let floatIn (low: float) (high: float) : Gen<float> =
        Gen.choose (0, 1_000_000)
        |> Gen.map (fun i -> low + (high - low) * float i / 1e6)

    /// A tensor sample of the given shape with values in [low, high].
    let tensorOfShape (shape: int64[]) (low: float) (high: float) : Gen<TensorSample> =
        let n = shape |> Array.fold (fun a d -> a * int d) 1

        Gen.arrayOfLength n (floatIn low high)
        |> Gen.map (fun v -> { Shape = shape; Values = v })

    /// A tensor sample of rank at most 3, dimensions at most 4, values in [low, high].
    let tensorIn (low: float) (high: float) : Gen<TensorSample> =
        gen {
            let! s = shape 3 4
            return! tensorOfShape s low high
        }

    /// A tensor sample with values in [-2, 2].
    let tensor: Gen<TensorSample> = tensorIn -2.0 2.0

    /// A tree sample of 1..4 leaves at distinct paths up to two levels deep, values in [low, high].
    let treeIn (low: float) (high: float) : Gen<TreeSample> =
        gen {
            let! count = Gen.choose (1, 4)
            let! nested = Gen.arrayOfLength count (Gen.elements [ true; false ])
            let! leaves = Gen.arrayOfLength count (tensorIn low high)

            let paths =
                nested
                |> Array.mapi (fun i deep -> if deep then $"group{i % 2}/leaf{i}" else $"leaf{i}")

            return
                {
                    Leaves = List.zip (List.ofArray paths) (List.ofArray leaves)
                }
        }

    /// A tree sample with values in [-2, 2].
    let tree: Gen<TreeSample> = treeIn -2.0 2.0

/// Arbitrary instances: register with FsCheck (`Arbitrary = [ typeof<Arbitraries> ]`) to have
/// properties take TensorSample and TreeSample arguments directly.
type Arbitraries =
    static member TensorSample() : Arbitrary<TensorSample> = Arb.fromGen Generators.tensor
    static member TreeSample() : Arbitrary<TreeSample> = Arb.fromGen Generators.tree
