using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace Functional.Pretrained;

/// <summary>
/// A restricted unpickler for the <c>data.pkl</c> of a <c>torch.save</c> archive (pickle protocols
/// 2 to 5). It never imports or calls anything: GLOBAL and STACK_GLOBAL resolve only an allow-list
/// of names, each to a <see cref="PythonGlobal"/> marker, and "calling" one of those builds our own
/// description of the object (a <see cref="TensorReference"/> for <c>_rebuild_tensor_v2</c>, a
/// <see cref="PythonDict"/> for <c>OrderedDict()</c>). Storages arrive as persistent ids and become
/// <see cref="StorageReference"/>s to archive entries; no tensor data is read here.
/// </summary>
/// <remarks>Hostile input is expected: truncated opcodes, lengths beyond the data, stack underflow,
/// memo misses, deep MARK nesting and arguments of the wrong type are each an
/// <see cref="InvalidDataException"/> naming the file and the byte offset of the opcode. Every
/// opcode consumes at least one byte and nothing recurses, so reading ends in time linear in the
/// pickle's length.</remarks>
internal sealed class PickleReader
{
    /// <summary>Deepest nesting of MARKs accepted.</summary>
    internal const int MaxMarkDepth = 1000;

    /// <summary>A Python dict or OrderedDict: its items in insertion order (keys are not deduplicated).</summary>
    internal sealed class PythonDict
    {
        /// <summary>The key/value pairs, in the order the pickle set them.</summary>
        public List<KeyValuePair<object?, object?>> Items { get; } = [];
    }

    /// <summary>A Python set or frozenset: its items in pickle order.</summary>
    internal sealed class PythonSet
    {
        /// <summary>The items, in the order the pickle added them.</summary>
        public List<object?> Items { get; } = [];
    }

    /// <summary>What an allowed global stands for.</summary>
    internal enum GlobalKind
    {
        /// <summary><c>collections.OrderedDict</c>.</summary>
        OrderedDict,
        /// <summary><c>torch._utils._rebuild_tensor_v2</c>.</summary>
        RebuildTensor,
        /// <summary><c>torch._utils._rebuild_parameter</c>.</summary>
        RebuildParameter,
        /// <summary><c>torch._utils._rebuild_parameter_with_state</c>.</summary>
        RebuildParameterWithState,
        /// <summary>A typed storage class such as <c>torch.FloatStorage</c>.</summary>
        Storage,
        /// <summary>A dtype object such as <c>torch.float32</c>.</summary>
        DType,
        /// <summary><c>_codecs.encode</c>, which protocol 2 uses to write <c>bytes</c>.</summary>
        Encode,
        /// <summary><c>builtins.set</c> or <c>builtins.frozenset</c> (<c>__builtin__</c> in protocol 2).</summary>
        Set,
        /// <summary><c>torch.Size</c>.</summary>
        Size,
    }

    /// <summary>An allowed global: its qualified name, what it stands for and, for storages and dtypes, the dtype.</summary>
    internal sealed record PythonGlobal(string Name, GlobalKind Kind, ScalarType DType = default);

    /// <summary>A storage named by a persistent id: the archive entry <c>data/&lt;Key&gt;</c> holding <paramref name="ElementCount"/> elements of <paramref name="DType"/>.</summary>
    internal sealed record StorageReference(string Key, ScalarType DType, long ElementCount);

    /// <summary>A tensor as <c>_rebuild_tensor_v2</c> describes it: a strided view of a storage.</summary>
    /// <param name="Storage">The storage it views.</param>
    /// <param name="Offset">Its first element's index in the storage.</param>
    /// <param name="Shape">Its sizes (none negative).</param>
    /// <param name="Stride">Its strides in elements (none negative).</param>
    /// <param name="ElementCount">The product of <paramref name="Shape"/>.</param>
    /// <param name="SpanElements">How many storage elements, from <paramref name="Offset"/> on, its elements reach (0 when it has none); validated to lie inside the storage.</param>
    internal sealed record TensorReference(StorageReference Storage, long Offset, long[] Shape, long[] Stride, long ElementCount, long SpanElements);

    static readonly Dictionary<string, ScalarType> StorageClasses = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = ScalarType.Float32, ["DoubleStorage"] = ScalarType.Float64, ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["LongStorage"] = ScalarType.Int64, ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8, ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool,
    };

    static readonly Dictionary<string, ScalarType> DTypeNames = new(StringComparer.Ordinal)
    {
        ["float32"] = ScalarType.Float32, ["float"] = ScalarType.Float32, ["float64"] = ScalarType.Float64, ["double"] = ScalarType.Float64,
        ["float16"] = ScalarType.Float16, ["half"] = ScalarType.Float16, ["bfloat16"] = ScalarType.BFloat16,
        ["int64"] = ScalarType.Int64, ["long"] = ScalarType.Int64, ["int32"] = ScalarType.Int32, ["int"] = ScalarType.Int32,
        ["int16"] = ScalarType.Int16, ["short"] = ScalarType.Int16, ["int8"] = ScalarType.Int8, ["uint8"] = ScalarType.Byte,
        ["bool"] = ScalarType.Bool,
    };

    static readonly Dictionary<string, GlobalKind> Callables = new(StringComparer.Ordinal)
    {
        ["collections.OrderedDict"] = GlobalKind.OrderedDict,
        ["torch._utils._rebuild_tensor_v2"] = GlobalKind.RebuildTensor,
        ["torch._utils._rebuild_parameter"] = GlobalKind.RebuildParameter,
        ["torch._utils._rebuild_parameter_with_state"] = GlobalKind.RebuildParameterWithState,
        ["_codecs.encode"] = GlobalKind.Encode,
        ["builtins.set"] = GlobalKind.Set,
        ["builtins.frozenset"] = GlobalKind.Set,
        ["__builtin__.set"] = GlobalKind.Set,
        ["__builtin__.frozenset"] = GlobalKind.Set,
        ["torch.Size"] = GlobalKind.Size,
    };

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    readonly string path;
    readonly byte[] data;
    readonly Stack<List<object?>> marks = new();
    readonly Dictionary<long, object?> memo = [];
    List<object?> stack = [];
    int position;
    int opcodeStart;

    PickleReader(string path, byte[] data)
    {
        this.path = path;
        this.data = data;
    }

    /// <summary>Unpickles <paramref name="pickle"/>, the data.pkl of the checkpoint at <paramref name="path"/> (named in errors).</summary>
    /// <returns>The top-level object: dicts, lists, tuples (<c>object?[]</c>), sets, strings, <see cref="long"/>s,
    /// <see cref="double"/>s, <see cref="bool"/>s, <c>byte[]</c>s, null for None, and the markers above.</returns>
    /// <exception cref="InvalidDataException">The pickle is malformed or refers to something outside the allow-list.</exception>
    public static object? Read(string path, byte[] pickle) => new PickleReader(path, pickle).Run();

    /// <summary>The Python name of <paramref name="value"/>'s type, for messages.</summary>
    public static string Describe(object? value) => value switch
    {
        null => "None",
        PythonGlobal g => g.Name,
        _ => PythonTypeName(value.GetType()),
    };

    static string PythonTypeName(Type type) =>
        type == typeof(long) ? "int" :
        type == typeof(bool) ? "bool" :
        type == typeof(double) ? "float" :
        type == typeof(string) ? "str" :
        type == typeof(byte[]) ? "bytes" :
        type == typeof(object?[]) ? "tuple" :
        type == typeof(List<object?>) ? "list" :
        type == typeof(PythonDict) ? "dict" :
        type == typeof(PythonSet) ? "set" :
        type == typeof(StorageReference) ? "storage" :
        type == typeof(TensorReference) ? "tensor" :
        type == typeof(PythonGlobal) ? "global" :
        type.Name;

    object? Run()
    {
        while (true)
        {
            if (position >= data.Length) throw Invalid("the pickle ends without a STOP opcode");
            opcodeStart = position;
            byte opcode = data[position++];
            if (opcode == Opcode.Stop) return Pop();
            Execute(opcode);
        }
    }

    static class Opcode
    {
        public const byte Proto = 0x80, Frame = 0x95, Stop = (byte)'.', Mark = (byte)'(', Pop = (byte)'0', PopMark = (byte)'1', Dup = (byte)'2';
        public const byte EmptyDict = (byte)'}', EmptyList = (byte)']', EmptyTuple = (byte)')', EmptySet = 0x8F;
        public const byte BinUnicode = (byte)'X', ShortBinUnicode = 0x8C, BinUnicode8 = 0x8D;
        public const byte ShortBinBytes = (byte)'C', BinBytes = (byte)'B', BinBytes8 = 0x8E;
        public const byte BinInt = (byte)'J', BinInt1 = (byte)'K', BinInt2 = (byte)'M', Long1 = 0x8A, Long4 = 0x8B, BinFloat = (byte)'G';
        public const byte NewTrue = 0x88, NewFalse = 0x89, None = (byte)'N';
        public const byte Tuple1 = 0x85, Tuple2 = 0x86, Tuple3 = 0x87, Tuple = (byte)'t';
        public const byte List = (byte)'l', Append = (byte)'a', Appends = (byte)'e';
        public const byte Dict = (byte)'d', SetItem = (byte)'s', SetItems = (byte)'u', AddItems = 0x90, FrozenSet = 0x91;
        public const byte BinPut = (byte)'q', LongBinPut = (byte)'r', Memoize = 0x94, BinGet = (byte)'h', LongBinGet = (byte)'j';
        public const byte Global = (byte)'c', StackGlobal = 0x93, Reduce = (byte)'R', NewObj = 0x81, Build = (byte)'b', BinPersId = (byte)'Q';
    }

    void Execute(byte opcode)
    {
        switch (opcode)
        {
            case Opcode.Proto: CheckProtocol(ReadByte()); break;
            case Opcode.Frame: Take(8); break;
            case Opcode.Mark: PushMark(); break;
            case Opcode.Pop: if (stack.Count > 0) Pop(); else PopMark(); break;
            case Opcode.PopMark: PopMark(); break;
            case Opcode.Dup: Push(Top()); break;
            case Opcode.EmptyDict: Push(new PythonDict()); break;
            case Opcode.EmptyList: Push(new List<object?>()); break;
            case Opcode.EmptyTuple: Push(Array.Empty<object?>()); break;
            case Opcode.EmptySet: Push(new PythonSet()); break;
            case Opcode.BinUnicode: Push(ReadString(ReadUInt32())); break;
            case Opcode.ShortBinUnicode: Push(ReadString(ReadByte())); break;
            case Opcode.BinUnicode8: Push(ReadString(ReadUInt64())); break;
            case Opcode.ShortBinBytes: Push(Take(ReadByte()).ToArray()); break;
            case Opcode.BinBytes: Push(Take(ReadUInt32()).ToArray()); break;
            case Opcode.BinBytes8: Push(Take(ReadUInt64()).ToArray()); break;
            case Opcode.BinInt: Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
            case Opcode.BinInt1: Push((long)ReadByte()); break;
            case Opcode.BinInt2: Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
            case Opcode.Long1: Push(ReadLong(ReadByte())); break;
            case Opcode.Long4: Push(ReadLong(BinaryPrimitives.ReadInt32LittleEndian(Take(4)))); break;
            case Opcode.BinFloat: Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
            case Opcode.NewTrue: Push(true); break;
            case Opcode.NewFalse: Push(false); break;
            case Opcode.None: Push(null); break;
            case Opcode.Tuple1: Push(PopTuple(1)); break;
            case Opcode.Tuple2: Push(PopTuple(2)); break;
            case Opcode.Tuple3: Push(PopTuple(3)); break;
            case Opcode.Tuple: Push(PopMark().ToArray()); break;
            case Opcode.List: Push(PopMark()); break;
            case Opcode.Append: Append(); break;
            case Opcode.Appends: Appends(); break;
            case Opcode.Dict: Push(DictOf(PopMark())); break;
            case Opcode.SetItem: SetItem(); break;
            case Opcode.SetItems: SetItems(); break;
            case Opcode.AddItems: AddItems(); break;
            case Opcode.FrozenSet: Push(SetOf(PopMark())); break;
            case Opcode.BinPut: memo[ReadByte()] = Top(); break;
            case Opcode.LongBinPut: memo[ReadUInt32()] = Top(); break;
            case Opcode.Memoize: memo[memo.Count] = Top(); break;
            case Opcode.BinGet: Push(Recall(ReadByte())); break;
            case Opcode.LongBinGet: Push(Recall(ReadUInt32())); break;
            case Opcode.Global: Push(Resolve(ReadLine(), ReadLine())); break;
            case Opcode.StackGlobal: StackGlobal(); break;
            case Opcode.Reduce: Reduce("REDUCE"); break;
            case Opcode.NewObj: Reduce("NEWOBJ"); break;
            case Opcode.Build: Build(); break;
            case Opcode.BinPersId: Push(PersistentLoad(Pop())); break;
            default: throw Invalid($"unknown or unsupported opcode 0x{opcode:X2}");
        }
    }

    void CheckProtocol(byte protocol)
    {
        if (protocol is < 2 or > 5) throw Invalid($"pickle protocol {protocol} is not supported (2 to 5 are)");
    }

    // Reading operands.

    ReadOnlySpan<byte> Take(long count)
    {
        int left = data.Length - position;
        if (count < 0 || count > left) throw Invalid($"the opcode needs {(count < 0 ? "more than 2^63" : count)} bytes but only {left} are left");
        var span = data.AsSpan(position, (int)count);
        position += (int)count;
        return span;
    }

    byte ReadByte() => Take(1)[0];

    uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    long ReadUInt64()
    {
        ulong value = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        return value > long.MaxValue ? -1 : (long)value;
    }

    string ReadString(long byteCount)
    {
        var bytes = Take(byteCount);
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { throw Invalid("a string is not valid UTF-8"); }
    }

    string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', position);
        if (end < 0) throw Invalid("a GLOBAL name has no terminating newline");
        var line = ReadString(end - position);
        position++;
        return line;
    }

    long ReadLong(int byteCount)
    {
        var bytes = Take(byteCount);
        if (bytes.Length > 8) throw Invalid($"an integer of {bytes.Length} bytes is wider than 64 bits");
        if (bytes.Length == 0) return 0;
        long value = (bytes[^1] & 0x80) != 0 ? -1 : 0;
        for (int i = bytes.Length - 1; i >= 0; i--) value = (value << 8) | bytes[i];
        return value;
    }

    // The stack, marks and memo.

    void Push(object? value) => stack.Add(value);

    object? Top() => stack.Count > 0 ? stack[^1] : throw Invalid("the stack is empty (underflow)");

    object? Pop()
    {
        var value = Top();
        stack.RemoveAt(stack.Count - 1);
        return value;
    }

    T PopAs<T>(string what) => Expect<T>(Pop(), what);

    T TopAs<T>(string what) => Expect<T>(Top(), what);

    T Expect<T>(object? value, string what) =>
        value is T typed ? typed : throw Invalid($"{what} is a {Describe(value)}, not a {PythonTypeName(typeof(T))}");

    void PushMark()
    {
        if (marks.Count >= MaxMarkDepth) throw Invalid($"MARKs are nested more than {MaxMarkDepth} deep");
        marks.Push(stack);
        stack = [];
    }

    List<object?> PopMark()
    {
        if (marks.Count == 0) throw Invalid("an opcode needs a MARK but none is open");
        var items = stack;
        stack = marks.Pop();
        return items;
    }

    object?[] PopTuple(int count)
    {
        if (stack.Count < count) throw Invalid($"a tuple needs {count} items but the stack holds {stack.Count} (underflow)");
        var items = stack.GetRange(stack.Count - count, count).ToArray();
        stack.RemoveRange(stack.Count - count, count);
        return items;
    }

    object? Recall(long index) =>
        memo.TryGetValue(index, out var value) ? value : throw Invalid($"memo entry {index} is read before it is written");

    // Containers.

    void Append()
    {
        var item = Pop();
        TopAs<List<object?>>("the target of APPEND").Add(item);
    }

    void Appends()
    {
        var items = PopMark();
        TopAs<List<object?>>("the target of APPENDS").AddRange(items);
    }

    void SetItem()
    {
        var value = Pop();
        var key = Pop();
        TopAs<PythonDict>("the target of SETITEM").Items.Add(new(key, value));
    }

    void SetItems()
    {
        var items = PopMark();
        AddPairs(TopAs<PythonDict>("the target of SETITEMS"), items);
    }

    PythonDict DictOf(List<object?> items)
    {
        var dict = new PythonDict();
        AddPairs(dict, items);
        return dict;
    }

    void AddPairs(PythonDict dict, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Invalid($"a dict is given {items.Count} items, an odd number, as key/value pairs");
        for (int i = 0; i < items.Count; i += 2) dict.Items.Add(new(items[i], items[i + 1]));
    }

    void AddItems()
    {
        var items = PopMark();
        TopAs<PythonSet>("the target of ADDITEMS").Items.AddRange(items);
    }

    static PythonSet SetOf(IEnumerable<object?> items)
    {
        var set = new PythonSet();
        set.Items.AddRange(items);
        return set;
    }

    // Globals and calls.

    void StackGlobal()
    {
        var name = PopAs<string>("the name given to STACK_GLOBAL");
        var module = PopAs<string>("the module given to STACK_GLOBAL");
        Push(Resolve(module, name));
    }

    PythonGlobal Resolve(string module, string name)
    {
        string qualified = $"{module}.{name}";
        if (module == "torch" && StorageClasses.TryGetValue(name, out var storageType)) return new(qualified, GlobalKind.Storage, storageType);
        if (module == "torch" && DTypeNames.TryGetValue(name, out var dtype)) return new(qualified, GlobalKind.DType, dtype);
        if (Callables.TryGetValue(qualified, out var kind)) return new(qualified, kind);
        string shown = qualified.Length > 120 ? qualified[..120] + "…" : qualified;
        if (module == "numpy" || module.StartsWith("numpy.", StringComparison.Ordinal))
            throw Invalid($"it refers to {shown}: numpy objects are not supported");
        throw Invalid($"it refers to {shown}, which is not allowed (only tensors, storages, dicts and plain values are)");
    }

    void Reduce(string opcodeName)
    {
        var arguments = PopAs<object?[]>($"the argument tuple of {opcodeName}");
        var callable = PopAs<PythonGlobal>($"the callable of {opcodeName}");
        Push(Call(callable, arguments));
    }

    object? Call(PythonGlobal callable, object?[] arguments) => callable.Kind switch
    {
        GlobalKind.OrderedDict => NewOrderedDict(arguments),
        GlobalKind.RebuildTensor => RebuildTensor(arguments),
        GlobalKind.RebuildParameter => RebuildParameter(callable, arguments, 3),
        GlobalKind.RebuildParameterWithState => RebuildParameter(callable, arguments, 4),
        GlobalKind.Encode => Encode(arguments),
        GlobalKind.Set => NewSet(arguments),
        GlobalKind.Size => NewSize(arguments),
        _ => throw Invalid($"it calls {callable.Name}, which is not callable here"),
    };

    PythonDict NewOrderedDict(object?[] arguments) =>
        arguments.Length == 0 ? new PythonDict() : throw Invalid($"OrderedDict is given {arguments.Length} arguments; only OrderedDict() is supported");

    PythonSet NewSet(object?[] arguments) => arguments switch
    {
        [] => new PythonSet(),
        [List<object?> items] => SetOf(items),
        [object?[] items] => SetOf(items),
        _ => throw Invalid("a set is built from something other than one list or tuple"),
    };

    object?[] NewSize(object?[] arguments) => arguments is [object?[] sizes]
        ? sizes
        : throw Invalid("torch.Size is built from something other than one tuple");

    byte[] Encode(object?[] arguments)
    {
        if (arguments is not [string text, string encoding] || encoding is not ("latin1" or "latin-1"))
            throw Invalid("_codecs.encode is given something other than (str, 'latin1')");
        var bytes = new byte[text.Length];
        for (int i = 0; i < text.Length; i++)
            bytes[i] = text[i] <= 0xFF ? (byte)text[i] : throw Invalid("_codecs.encode is given a character beyond latin1");
        return bytes;
    }

    TensorReference RebuildParameter(PythonGlobal callable, object?[] arguments, int count)
    {
        if (arguments.Length != count) throw Invalid($"{callable.Name} takes {count} arguments, not {arguments.Length}");
        Expect<bool>(arguments[1], $"the requires_grad argument of {callable.Name}");
        return Expect<TensorReference>(arguments[0], $"the data argument of {callable.Name}");
    }

    TensorReference RebuildTensor(object?[] arguments)
    {
        if (arguments.Length is not (6 or 7)) throw Invalid($"_rebuild_tensor_v2 takes 6 or 7 arguments, not {arguments.Length}");
        var storage = Expect<StorageReference>(arguments[0], "the storage argument of _rebuild_tensor_v2");
        long offset = Expect<long>(arguments[1], "the storage offset of _rebuild_tensor_v2");
        var shape = Integers(arguments[2], "size");
        var stride = Integers(arguments[3], "stride");
        Expect<bool>(arguments[4], "the requires_grad argument of _rebuild_tensor_v2");
        if (offset < 0) throw Invalid($"a tensor has storage offset {offset}");
        if (shape.Length != stride.Length) throw Invalid($"a tensor has {shape.Length} sizes but {stride.Length} strides");
        return Bounded(storage, offset, shape, stride);
    }

    long[] Integers(object? value, string what)
    {
        var items = Expect<object?[]>(value, $"the {what} of a tensor");
        var integers = new long[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            integers[i] = Expect<long>(items[i], $"entry {i} of the {what} of a tensor");
            if (integers[i] < 0) throw Invalid($"the {what} of a tensor has the negative entry {integers[i]}");
        }
        return integers;
    }

    TensorReference Bounded(StorageReference storage, long offset, long[] shape, long[] stride)
    {
        if (shape.Contains(0)) return new(storage, offset, shape, stride, 0, 0);
        try
        {
            long count = 1, last = offset;
            for (int i = 0; i < shape.Length; i++)
            {
                count = checked(count * shape[i]);
                last = checked(last + (shape[i] - 1) * stride[i]);
            }
            if (last >= storage.ElementCount)
                throw Invalid($"a tensor reaches element {last} of storage '{storage.Key}', which holds {storage.ElementCount}");
            if (count > storage.ElementCount)
                throw Invalid($"a tensor has {count} elements, more than its storage '{storage.Key}' holds ({storage.ElementCount}); overlapping strides are not supported");
            return new(storage, offset, shape, stride, count, last - offset + 1);
        }
        catch (OverflowException)
        {
            throw Invalid($"a tensor of shape [{string.Join(", ", shape)}] is too large");
        }
    }

    void Build()
    {
        Pop();
        var target = Top();
        if (target is not (PythonDict or TensorReference))
            throw Invalid($"BUILD sets the state of a {Describe(target)}; only dicts and tensors are supported");
    }

    StorageReference PersistentLoad(object? id)
    {
        if (id is not object?[] { Length: 5 } fields || fields[0] is not "storage")
            throw Invalid($"a persistent id is a {Describe(id)}, not ('storage', type, key, location, numel)");
        var type = Expect<PythonGlobal>(fields[1], "the storage type of a persistent id");
        if (type.Kind != GlobalKind.Storage) throw Invalid($"a persistent id names {type.Name} as its storage type");
        var key = Expect<string>(fields[2], "the key of a persistent id");
        Expect<string>(fields[3], "the location of a persistent id");
        long count = Expect<long>(fields[4], "the element count of a persistent id");
        if (count < 0) throw Invalid($"storage '{key}' has {count} elements");
        return new StorageReference(key, type.DType, count);
    }

    InvalidDataException Invalid(string problem) =>
        new($"{path} is not a valid PyTorch checkpoint: in data.pkl, at byte {opcodeStart}, {problem}.");
}
