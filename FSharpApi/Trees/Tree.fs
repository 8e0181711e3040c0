namespace Functional.FSharp

open System
open TorchSharp
open Functional.Trees

/// F# values as trees of tensors. Records, tuples, lists, arrays, maps, options and unions of
/// tensors (nested to any depth) are trees whose leaf paths come from field names, tuple and
/// list positions and map keys: `{ Encoder = { W = w } }` has the leaf "Encoder/W". Values
/// that are not tensors (numbers, strings) are static: they have no leaves and are kept from
/// the template when a value is rebuilt. A union case with one field adds no path segment, so
/// `Some w` has w's path.
[<RequireQualifiedAccess>]
module Tree =
    let rec private collect
        (shape: TreeShape)
        (path: string)
        (value: objnull)
        (acc: ResizeArray<string * torch.Tensor>)
        =
        match shape with
        | Static
        | Cases _ -> ()
        | _ when isNull value ->
            let where = if path = "" then "<root>" else path
            invalidArg "value" $"The tree has a null value at '{where}'."
        | _ -> ()

        match shape with
        | TensorLeaf -> acc.Add((path, nonNull value :?> torch.Tensor))
        | Subtree ->
            for KeyValue(p, t) in (nonNull value :?> TensorTree) do
                acc.Add((TreePath.Join(path, p), t))
        | Static -> ()
        | Fields(names, read, _, children) ->
            read value
            |> Array.iteri (fun i v -> collect children.[i].Value (TreePath.Join(path, names.[i])) v acc)
        | Sequence(element, read, _) ->
            read value
            |> Array.iteri (fun i v -> collect element.Value (TreePath.Join(path, string i)) v acc)
        | Keyed(child, read, _) ->
            for (k, v) in read value do
                collect child.Value (TreePath.Join(path, k)) v acc
        | Cases(tag, cases) ->
            let (_, read, _, fields) = cases.[tag value]
            let values = read value

            if values.Length = 1 then
                collect fields.[0].Value path values.[0] acc
            else
                values
                |> Array.iteri (fun i v -> collect fields.[i].Value (TreePath.Join(path, string i)) v acc)

    let rec private rebuild (shape: TreeShape) (path: string) (template: objnull) (tree: TensorTree) : objnull =
        match shape with
        | TensorLeaf -> box tree.[path]
        | Subtree -> box (tree.Select path)
        | Static -> template
        | Fields(names, read, make, children) ->
            read template
            |> Array.mapi (fun i v -> rebuild children.[i].Value (TreePath.Join(path, names.[i])) v tree)
            |> make
        | Sequence(element, read, make) ->
            read template
            |> Array.mapi (fun i v -> rebuild element.Value (TreePath.Join(path, string i)) v tree)
            |> make
        | Keyed(child, read, make) ->
            read template
            |> Array.map (fun (k, v) -> rebuild child.Value (TreePath.Join(path, k)) v tree)
            |> make template
        | Cases(tag, cases) ->
            let (_, read, make, fields) = cases.[tag template]
            let values = read template

            if values.Length = 1 then
                make [| rebuild fields.[0].Value path values.[0] tree |]
            else
                values
                |> Array.mapi (fun i v -> rebuild fields.[i].Value (TreePath.Join(path, string i)) v tree)
                |> make

    /// The leaves of an F# value, as a TensorTree (no copies).
    let toTree (value: 'T) : TensorTree =
        let acc = ResizeArray()
        collect (TreeShape.ofType typeof<'T>) "" (box value) acc
        TensorTree.FromLeaves(acc |> Seq.map (fun (p, t) -> struct (p, t)))

    /// A value shaped like `template` whose leaves are taken from `tree` by path.
    /// Throws KeyNotFoundException (naming the path) when the tree lacks a leaf.
    let ofTree (template: 'T) (tree: TensorTree) : 'T =
        unbox<'T>(rebuild (TreeShape.ofType typeof<'T>) "" (box template) tree)

    /// The leaf tensors, in path order of the value.
    let leaves (value: 'T) : torch.Tensor list = (toTree value).Leaves |> List.ofSeq

    /// The leaf paths.
    let paths (value: 'T) : string list = (toTree value).Paths |> List.ofSeq

    /// Applies `f` to every leaf.
    let map (f: torch.Tensor -> torch.Tensor) (value: 'T) : 'T = ofTree value ((toTree value).Map f)

    /// Applies `f` to every leaf with its path.
    let mapi (f: string -> torch.Tensor -> torch.Tensor) (value: 'T) : 'T =
        ofTree value ((toTree value).Map(Func<string, torch.Tensor, torch.Tensor>(f)))

    /// Combines two values of the same structure leaf by leaf.
    let map2 (f: torch.Tensor -> torch.Tensor -> torch.Tensor) (a: 'T) (b: 'T) : 'T =
        ofTree a ((toTree a).Zip(toTree b, Func<torch.Tensor, torch.Tensor, torch.Tensor>(f)))

    /// Folds over the leaves in order.
    let fold (f: 'S -> string -> torch.Tensor -> 'S) (state: 'S) (value: 'T) : 'S =
        (toTree value).Fold(state, Func<'S, string, torch.Tensor, 'S>(f))

    /// Total number of scalars.
    let scalarCount (value: 'T) : int64 = (toTree value).ScalarCount

    /// All leaves concatenated into one 1-D tensor.
    let flatten (value: 'T) : torch.Tensor = (toTree value).Flatten()

    /// Splits a 1-D tensor into a value shaped like `template` (the inverse of `flatten`).
    let unflatten (template: 'T) (vector: torch.Tensor) : 'T =
        ofTree template ((toTree template).Structure.Unflatten vector)

    /// Zeros shaped like every leaf.
    let zerosLike (value: 'T) : 'T = map torch.zeros_like value

    /// Every leaf detached from the autograd graph.
    let detach (value: 'T) : 'T = map (fun t -> t.detach ()) value

    /// Deep copy (leaves cloned and detached).
    let clone (value: 'T) : 'T = map (fun t -> t.detach().clone()) value

    /// The sum over leaves of (a * b).sum().
    let dot (a: 'T) (b: 'T) : torch.Tensor =
        Functional.Autodiff.Transforms.Dot(toTree a, toTree b)

    /// Every leaf converted to `dtype`.
    let toType (dtype: torch.ScalarType) (value: 'T) : 'T = map (fun t -> t.to_type dtype) value
