namespace Functional.FSharp

open System
open Functional.Trees
open Functional.Verification

/// Numerical verification of derivatives for functions of F# values (see the C# GradCheck).
[<RequireQualifiedAccess>]
module GradCheck =
    let private asTreeFunction (x: 'P) (f: 'P -> 'O) =
        Func<TensorTree, TensorTree>(fun t -> Tree.toTree (f (Tree.ofTree x t)))

    /// Compares autodiff J^T v and J u with float64 central differences, with given options.
    let checkWith (options: GradCheckOptions) (f: 'P -> 'O) (x: 'P) : GradCheckReport =
        GradCheck.Check(asTreeFunction x f, Tree.toTree x, options)

    /// Compares autodiff J^T v and J u with float64 central differences.
    let check (f: 'P -> 'O) (x: 'P) : GradCheckReport = checkWith (GradCheckOptions()) f x

    /// Like check, but throws GradCheckException when a derivative is wrong.
    let assertGradients (f: 'P -> 'O) (x: 'P) : unit =
        GradCheck.Assert(asTreeFunction x f, Tree.toTree x) |> ignore
