namespace Functional.FSharp

open System
open System.Collections.Concurrent
open Microsoft.FSharp.Reflection
open TorchSharp
open Functional.Trees

/// How one F# type is taken apart into tensor leaves and put back together. Records, tuples,
/// lists, arrays, maps, options and unions (by case) of tensors nest to any depth; a
/// TensorTree is a tree too; any other value (numbers, strings, ...) is static configuration:
/// it has no leaves and is copied from the template when the value is rebuilt.
type internal TreeShape =
    | TensorLeaf
    | Subtree
    | Static
    | Fields of
        names: string[] *
        read: (objnull -> objnull[]) *
        make: (objnull[] -> objnull) *
        children: Lazy<TreeShape>[]
    | Sequence of element: Lazy<TreeShape> * read: (objnull -> objnull[]) * make: (objnull[] -> objnull)
    | Keyed of
        value: Lazy<TreeShape> *
        read: (objnull -> (string * objnull)[]) *
        make: (objnull -> objnull[] -> objnull)
    | Cases of
        tag: (objnull -> int) *
        cases: (string * (objnull -> objnull[]) * (objnull[] -> objnull) * Lazy<TreeShape>[])[]

module internal TreeShape =
    let private cache = ConcurrentDictionary<Type, TreeShape>()

    /// What reflection finds for the types handled here (never null for them).
    let private found (what: string) (value: 'T | null) : 'T =
        match value with
        | null -> invalidOp $"Tree: reflection found no {what}."
        | v -> v

    /// A value taken apart: null only where an F# type represents a case by null (None).
    let private reader (read: obj -> objnull[]) = fun (o: objnull) -> read (nonNull o)

    let private maker (make: objnull[] -> obj) =
        fun (items: objnull[]) -> box (make items)

    let rec ofType (t: Type) : TreeShape =
        cache.GetOrAdd(t, Func<Type, TreeShape>(build))

    and private build (t: Type) : TreeShape =
        let lazyShape (t: Type) = lazy (ofType t)

        if typeof<torch.Tensor>.IsAssignableFrom t then
            TensorLeaf
        elif t = typeof<TensorTree> then
            Subtree
        elif t = typeof<unit> then
            Static
        elif FSharpType.IsRecord(t, true) then
            let fields = FSharpType.GetRecordFields(t, true)

            Fields(
                fields |> Array.map (fun f -> f.Name),
                reader (FSharpValue.PreComputeRecordReader(t, true)),
                maker (FSharpValue.PreComputeRecordConstructor(t, true)),
                fields |> Array.map (fun f -> lazyShape f.PropertyType)
            )
        elif FSharpType.IsTuple t then
            let items = FSharpType.GetTupleElements t

            Fields(
                items |> Array.mapi (fun i _ -> string i),
                reader (FSharpValue.PreComputeTupleReader t),
                maker (FSharpValue.PreComputeTupleConstructor t),
                items |> Array.map lazyShape
            )
        elif t.IsArray then
            let e = found "array element type" (t.GetElementType())

            Sequence(
                lazyShape e,
                (fun o -> [| for x in (nonNull o :?> Array) -> x |]),
                (fun items ->
                    let a = Array.CreateInstance(e, items.Length) in
                    items |> Array.iteri (fun i x -> a.SetValue(x, i))
                    box a)
            )
        elif t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<list<_>> then
            let e = t.GetGenericArguments().[0]
            let cases = FSharpType.GetUnionCases t
            let empty = FSharpValue.MakeUnion(cases.[0], [||], true)
            let cons = FSharpValue.PreComputeUnionConstructor(cases.[1], true)

            Sequence(
                lazyShape e,
                (fun o -> [| for x in (nonNull o :?> Collections.IEnumerable) -> x |]),
                (fun items -> Array.foldBack (fun x acc -> cons [| x; acc |]) items empty)
            )
        elif t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<Map<_, _>> then
            let args = t.GetGenericArguments()
            let keyOf = found "Map.Keys" (t.GetProperty("Keys"))
            let item = found "Map.Item" (t.GetProperty("Item"))

            let ctor =
                found
                    "Map constructor"
                    (t.GetConstructor [| typedefof<seq<_>>.MakeGenericType(FSharpType.MakeTupleType args) |])

            let tupleMake =
                FSharpValue.PreComputeTupleConstructor(FSharpType.MakeTupleType args)

            let listType = typedefof<list<_>>.MakeGenericType(FSharpType.MakeTupleType args)
            let listCases = FSharpType.GetUnionCases listType
            let listEmpty = FSharpValue.MakeUnion(listCases.[0], [||], true)
            let listCons = FSharpValue.PreComputeUnionConstructor(listCases.[1], true)

            let keys (o: objnull) =
                [| for k in (nonNull (keyOf.GetValue o) :?> Collections.IEnumerable) -> k |]

            Keyed(
                lazyShape args.[1],
                (fun o -> keys o |> Array.map (fun k -> string k, item.GetValue(o, [| k |]))),
                (fun template values ->
                    let pairs = Array.map2 (fun k v -> tupleMake [| k; v |]) (keys template) values
                    ctor.Invoke [| Array.foldBack (fun x acc -> listCons [| x; acc |]) pairs listEmpty |])
            )
        elif FSharpType.IsUnion(t, true) then
            let cases =
                FSharpType.GetUnionCases(t, true)
                |> Array.map (fun c ->
                    c.Name,
                    FSharpValue.PreComputeUnionReader(c, true),
                    FSharpValue.PreComputeUnionConstructor(c, true),
                    c.GetFields() |> Array.map (fun f -> lazyShape f.PropertyType))

            Cases(FSharpValue.PreComputeUnionTagReader(t, true), cases)
        else
            Static
