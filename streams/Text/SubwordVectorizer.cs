using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams.Text;

/// <summary>
/// Subword tokenisation through Microsoft.ML.Tokenizers, from vocabulary files you supply:
/// WordPiece over words split at white space (BERT's vocab.txt format, "##" continuations; no
/// lower-casing or punctuation splitting, and no [CLS]/[SEP]: standardise the text first as your
/// vocabulary expects) and byte-pair encoding over words (vocab.json and merges.txt; not GPT-2's
/// byte-level variant). Text to token ids,
/// int64 [texts, <see cref="OutputSequenceLength"/>], padded with <see cref="PaddingId"/> and
/// truncated. Like <see cref="TextVectorizer"/> it is a preprocessing stage that saves with the
/// model (its vocabulary files become assets of the model's generation).
/// </summary>
public sealed class SubwordVectorizer
{
    const string ConfigAsset = "subword_config", VocabularyAsset = "subword_vocabulary", MergesAsset = "subword_merges";
    readonly byte[] vocabulary;
    readonly byte[]? merges;

    SubwordVectorizer(string kind, byte[] vocabulary, byte[]? merges, int outputSequenceLength, int paddingId)
    {
        if (outputSequenceLength < 1) throw new ArgumentOutOfRangeException(nameof(outputSequenceLength), outputSequenceLength, "outputSequenceLength is at least 1.");
        (Kind, this.vocabulary, this.merges, OutputSequenceLength, PaddingId) = (kind, vocabulary, merges, outputSequenceLength, paddingId);
        try
        {
            using var vocabularyStream = new MemoryStream(vocabulary);
            using var mergesStream = merges is null ? null : new MemoryStream(merges);
            Tokenizer = kind == "wordpiece" ? WordPieceTokenizer.Create(vocabularyStream) : BpeTokenizer.Create(vocabularyStream, mergesStream);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or System.Text.Json.JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"Not a readable {kind} vocabulary: {e.Message}", e);
        }
    }

    /// <summary>"wordpiece" or "bpe".</summary>
    public string Kind { get; }

    /// <summary>The tokenizer, for anything beyond ids (offsets, decoding).</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>The length of every row of ids.</summary>
    public int OutputSequenceLength { get; }

    /// <summary>The id that pads short texts.</summary>
    public int PaddingId { get; }

    /// <summary>WordPiece from a vocabulary file of one token per line (BERT's vocab.txt).</summary>
    public static SubwordVectorizer WordPiece(string vocabularyPath, int outputSequenceLength, int paddingId = 0) =>
        new("wordpiece", ReadFile(vocabularyPath), null, outputSequenceLength, paddingId);

    /// <summary>Byte-pair encoding from a vocabulary (JSON: token to id) and a merges file (one pair per line).</summary>
    public static SubwordVectorizer Bpe(string vocabularyPath, string mergesPath, int outputSequenceLength, int paddingId = 0) =>
        new("bpe", ReadFile(vocabularyPath), ReadFile(mergesPath), outputSequenceLength, paddingId);

    static byte[] ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No vocabulary file at '{path}'.", path);
        return File.ReadAllBytes(path);
    }

    /// <summary>The ids of one text, without padding or truncation.</summary>
    public IReadOnlyList<int> Encode(string text) => Tokenizer.EncodeToIds(text ?? throw new ArgumentNullException(nameof(text)));

    /// <summary>The texts as ids, int64 [texts, <see cref="OutputSequenceLength"/>].</summary>
    public Tensor Apply(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if ((long)texts.Count * OutputSequenceLength > Array.MaxLength)
            throw new ArgumentException($"{texts.Count} texts x {OutputSequenceLength} ids is more than one tensor of this kind holds here; vectorise them in batches.", nameof(texts));
        var ids = new long[texts.Count * OutputSequenceLength];
        Array.Fill(ids, PaddingId);
        for (int row = 0; row < texts.Count; row++)
        {
            var encoded = Encode(texts[row] ?? throw new ArgumentException($"Text {row} is null.", nameof(texts)));
            for (int i = 0; i < Math.Min(encoded.Count, OutputSequenceLength); i++) ids[row * OutputSequenceLength + i] = encoded[i];
        }
        return torch.tensor(ids, [texts.Count, OutputSequenceLength]);
    }

    /// <summary>Saves <paramref name="model"/> into <paramref name="folder"/> with this vectorizer's
    /// settings and vocabulary files, in one generation.</summary>
    public void Save(string folder, Functional.Training.Model model, bool includeOptimizerState = true)
    {
        var config = new JsonObject { ["kind"] = Kind, ["output_sequence_length"] = OutputSequenceLength, ["padding_id"] = PaddingId };
        var assets = new Dictionary<string, byte[]> { [ConfigAsset] = Encoding.UTF8.GetBytes(config.ToJsonString()), [VocabularyAsset] = vocabulary };
        if (merges is not null) assets[MergesAsset] = merges;
        Functional.Persistence.ModelFile.Save(folder, model, includeOptimizerState, assets: assets);
    }

    /// <summary>The vectorizer saved with a model by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The folder holds no subword vectorizer, or a damaged one.</exception>
    public static SubwordVectorizer Load(string folder)
    {
        // Every asset from one reading of the manifest: the settings and files of one save.
        var assets = Functional.Persistence.ModelFile.ReadAssets(folder);
        byte[] Asset(string name) => assets.TryGetValue(name, out var bytes) ? bytes
            : throw new InvalidDataException($"{folder}: the saved model has no asset '{name}'; it has {(assets.Count > 0 ? string.Join(", ", assets.Keys) : "none")}.");
        try
        {
            var config = JsonNode.Parse(Asset(ConfigAsset))!.AsObject();
            string kind = (string)config["kind"]!;
            if (kind is not ("wordpiece" or "bpe")) throw new InvalidDataException($"unknown kind '{kind}'");
            return new SubwordVectorizer(kind, Asset(VocabularyAsset), kind == "bpe" ? Asset(MergesAsset) : null,
                (int)config["output_sequence_length"]!, (int)config["padding_id"]!);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException
            or ArgumentException or InvalidCastException)
        {
            throw new InvalidDataException($"{folder}: not a readable subword vectorizer: {e.Message}", e);
        }
    }
}
