using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Functional.TensorBoard;

/// <summary>
/// Summaries of TensorBoard's HParams plugin, encoded as its protos define them
/// (<c>tensorboard/plugins/hparams/plugin_data.proto</c> and <c>api.proto</c>; TorchSharp ships
/// no classes for them): the experiment (its hyperparameters with their domains, and its
/// metrics) in the root run, and each session's start (its values) and end (its status) in the
/// session's run. The content travels in <c>SummaryMetadata.plugin_data</c> of a value whose
/// tensor is an empty float.
/// </summary>
static class HParamsPlugin
{
    public const string PluginName = "hparams";
    public const string ExperimentTag = "_hparams_/experiment", SessionStartTag = "_hparams_/session_start_info", SessionEndTag = "_hparams_/session_end_info";

    /// <summary>HParamInfo.type: DATA_TYPE_STRING, _BOOL, _FLOAT64.</summary>
    public enum DataType { String = 1, Bool = 2, Float64 = 3 }

    /// <summary>A hyperparameter of the experiment: discrete values, or an interval.</summary>
    public sealed record HParam(string Name, DataType Type, IReadOnlyList<object>? Values, (double Min, double Max)? Interval);

    public static Tensorboard.Summary Experiment(string name, IEnumerable<HParam> hparams, IEnumerable<string> metrics)
    {
        var experiment = new Proto()
            .Message(4, hparams.Select(HParamInfo))
            .Message(5, metrics.Select(m => new Proto().Message(1, new Proto().String(1, "").String(2, m)).Bytes()))
            .String(6, name)
            .Double(3, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        return Summary(ExperimentTag, new Proto().Int(1, 0).Message(2, experiment).Bytes());
    }

    public static Tensorboard.Summary SessionStart(IReadOnlyDictionary<string, object> values, string group)
    {
        var start = new Proto();
        foreach (var (name, value) in values)
            start.Message(1, new Proto().String(1, name).Message(2, ValueOf(value).ToByteArray()));
        start.String(4, group).Double(5, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        return Summary(SessionStartTag, new Proto().Int(1, 0).Message(3, start).Bytes());
    }

    public static Tensorboard.Summary SessionEnd(bool succeeded)
    {
        var end = new Proto().Int(1, succeeded ? 1 : 2).Double(2, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        return Summary(SessionEndTag, new Proto().Int(1, 0).Message(4, end).Bytes());
    }

    static byte[] HParamInfo(HParam p)
    {
        var info = new Proto().String(1, p.Name).Int(4, (int)p.Type);
        if (p.Values is { } values)
        {
            var list = new ListValue();
            list.Values.AddRange(values.Select(ValueOf));
            info.Message(5, list.ToByteArray());
        }
        else if (p.Interval is { } interval)
            info.Message(6, new Proto().Double(1, interval.Min).Double(2, interval.Max).Bytes());
        return info.Bytes();
    }

    public static Value ValueOf(object value) => value switch
    {
        string s => Value.ForString(s),
        bool b => Value.ForBool(b),
        _ => Value.ForNumber(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
    };

    static Tensorboard.Summary Summary(string tag, byte[] content)
    {
        var summary = new Tensorboard.Summary();
        var empty = new Tensorboard.TensorProto { Dtype = Tensorboard.DataType.DtFloat, TensorShape = new Tensorboard.TensorShapeProto() };
        empty.FloatVal.Add(0);
        summary.Value.Add(new Tensorboard.Summary.Types.Value
        {
            Tag = tag,
            Metadata = new Tensorboard.SummaryMetadata
            {
                PluginData = new Tensorboard.SummaryMetadata.Types.PluginData { PluginName = PluginName, Content = ByteString.CopyFrom(content) },
            },
            Tensor = empty,
        });
        return summary;
    }

    /// <summary>A message in protobuf's wire format, written field by field.</summary>
    sealed class Proto
    {
        readonly MemoryStream buffer = new();
        readonly CodedOutputStream output;

        public Proto() => output = new CodedOutputStream(buffer, leaveOpen: true);

        public Proto String(int field, string value)
        {
            if (value.Length == 0) return this;
            output.WriteTag(field, WireFormat.WireType.LengthDelimited);
            output.WriteString(value);
            return this;
        }

        public Proto Int(int field, int value)
        {
            if (value == 0) return this;
            output.WriteTag(field, WireFormat.WireType.Varint);
            output.WriteInt32(value);
            return this;
        }

        public Proto Double(int field, double value)
        {
            output.WriteTag(field, WireFormat.WireType.Fixed64);
            output.WriteDouble(value);
            return this;
        }

        public Proto Message(int field, byte[] message)
        {
            output.WriteTag(field, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(message));
            return this;
        }

        public Proto Message(int field, Proto message) => Message(field, message.Bytes());

        public Proto Message(int field, IEnumerable<byte[]> messages)
        {
            foreach (var m in messages) Message(field, m);
            return this;
        }

        public byte[] Bytes()
        {
            output.Flush();
            return buffer.ToArray();
        }
    }
}
