using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams.Text;

/// <summary>How text is standardised before it is split (Keras's <c>standardize</c>).</summary>
public enum TextStandardize
{
    /// <summary>Lower case, ASCII punctuation removed (Keras's default, "lower_and_strip_punctuation").</summary>
    LowerAndStripPunctuation,
    /// <summary>Lower case only.</summary>
    Lower,
    /// <summary>ASCII punctuation removed only.</summary>
    StripPunctuation,
    /// <summary>As given.</summary>
    None,
}

/// <summary>How standardised text becomes tokens (Keras's <c>split</c>).</summary>
public enum TextSplit
{
    /// <summary>At runs of white space.</summary>
    Whitespace,
    /// <summary>Every character (Unicode text element) a token.</summary>
    Character,
    /// <summary>The whole text one token.</summary>
    None,
}

/// <summary>What <see cref="TextVectorizer.Apply(IReadOnlyList{string})"/> returns (Keras's <c>output_mode</c>).</summary>
public enum TextOutputMode
{
    /// <summary>Token ids, int64 [texts, length]: 0 pads, 1 is out of vocabulary.</summary>
    Int,
    /// <summary>1 where a vocabulary token occurs, float32 [texts, vocabulary size].</summary>
    MultiHot,
    /// <summary>How often each token occurs, float32 [texts, vocabulary size].</summary>
    Count,
    /// <summary>Counts weighted by inverse document frequency, float32 [texts, vocabulary size].</summary>
    TfIdf,
}

/// <summary>
/// Keras's TextVectorization: text is standardised, split into tokens (with n-grams), and
/// mapped through a vocabulary that <see cref="Adapt(DataStream{string})"/> builds from a
/// stream (tokens by falling frequency, ties in reverse ordinal order as Keras sorts them, at most
/// <see cref="MaxTokens"/> including the reserved ones). In <see cref="TextOutputMode.Int"/>
/// mode id 0 is padding and id 1 the out-of-vocabulary token "[UNK]"; in the other modes index 0
/// is "[UNK]". It is a preprocessing stage, not a layer: strings are not tensors, and the
/// network (and its ONNX export) starts at the ids. Save it with the model
/// (<see cref="Save"/>, one generation with the network, so the two never mix) and
/// <see cref="Load"/> it to vectorise text at prediction exactly as in training.
/// </summary>
public sealed class TextVectorizer
{
    /// <summary>Keras's punctuation set (Python's string.punctuation), removed by the default standardisation.</summary>
    public const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    const string Unknown = "[UNK]", Padding = "";
    const string AssetName = "text_vectorization";

    /// <summary>The vocabulary, its index and the idf weights, replaced as one (Apply may run on other threads).</summary>
    sealed record Lookup(string[] Tokens, Dictionary<string, int> Ids, float[]? Idf);

    volatile Lookup lookup = new([], new(StringComparer.Ordinal), null);

    /// <param name="maxTokens">The vocabulary's size limit, reserved tokens included; null: no limit.</param>
    /// <param name="standardize">How text is standardised.</param>
    /// <param name="split">How it is split into tokens.</param>
    /// <param name="ngrams">Also n-grams of up to this many tokens (joined by a space).</param>
    /// <param name="outputMode">What <see cref="Apply(IReadOnlyList{string})"/> returns.</param>
    /// <param name="outputSequenceLength">Int mode: ids padded with 0 or truncated to this length (null: the longest text's).</param>
    public TextVectorizer(int? maxTokens = null, TextStandardize standardize = TextStandardize.LowerAndStripPunctuation, TextSplit split = TextSplit.Whitespace,
        int ngrams = 1, TextOutputMode outputMode = TextOutputMode.Int, int? outputSequenceLength = null)
    {
        if (maxTokens is < 3) throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "maxTokens counts the reserved tokens too: at least 3.");
        if (ngrams < 1) throw new ArgumentOutOfRangeException(nameof(ngrams), ngrams, "ngrams is at least 1.");
        if (outputSequenceLength is < 1) throw new ArgumentOutOfRangeException(nameof(outputSequenceLength), outputSequenceLength, "outputSequenceLength is at least 1.");
        if (outputSequenceLength is not null && outputMode != TextOutputMode.Int)
            throw new ArgumentException($"outputSequenceLength is for Int output; {outputMode} output has one column per vocabulary token.", nameof(outputSequenceLength));
        (MaxTokens, Standardize, Split, Ngrams, OutputMode, OutputSequenceLength) = (maxTokens, standardize, split, ngrams, outputMode, outputSequenceLength);
    }

    /// <summary>The vocabulary's size limit (reserved tokens included), or null.</summary>
    public int? MaxTokens { get; }
    /// <summary>How text is standardised.</summary>
    public TextStandardize Standardize { get; }
    /// <summary>How text is split.</summary>
    public TextSplit Split { get; }
    /// <summary>The longest n-grams made.</summary>
    public int Ngrams { get; }
    /// <summary>What <see cref="Apply(IReadOnlyList{string})"/> returns.</summary>
    public TextOutputMode OutputMode { get; }
    /// <summary>Int mode's output length, or null for the longest text's.</summary>
    public int? OutputSequenceLength { get; }

    /// <summary>The vocabulary, reserved tokens first: id i is token i ("" and "[UNK]" in Int mode, "[UNK]" otherwise).</summary>
    public IReadOnlyList<string> Vocabulary => lookup.Tokens;

    /// <summary>The inverse document frequencies (TfIdf mode, after Adapt), index i for token i.</summary>
    public IReadOnlyList<float>? IdfWeights => lookup.Idf;

    string[] Reserved => OutputMode == TextOutputMode.Int ? [Padding, Unknown] : [Unknown];

    /// <summary>Builds the vocabulary (and, for TfIdf, the document frequencies) from every text of one run of <paramref name="texts"/>.</summary>
    public void Adapt(DataStream<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        Adapt(texts.Enumerate());
    }

    /// <summary>Builds the vocabulary from <paramref name="texts"/>.</summary>
    public void Adapt(IEnumerable<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var documents = new Dictionary<string, long>(StringComparer.Ordinal);
        long documentCount = 0;
        foreach (var text in texts)
        {
            var tokens = Tokens(text ?? throw new ArgumentException("A text to adapt to is null.", nameof(texts)));
            foreach (var token in tokens) counts[token] = counts.GetValueOrDefault(token) + 1;
            foreach (var token in tokens.Distinct(StringComparer.Ordinal)) documents[token] = documents.GetValueOrDefault(token) + 1;
            documentCount++;
        }
        var reserved = Reserved;
        // Keras: by count, ties by token, both descending.
        var ordered = counts.Where(c => !reserved.Contains(c.Key)).OrderByDescending(c => c.Value).ThenByDescending(c => c.Key, StringComparer.Ordinal).Select(c => c.Key);
        if (MaxTokens is { } max) ordered = ordered.Take(max - reserved.Length);
        var tokensKept = ordered.ToArray();
        double[]? weights = null;
        if (OutputMode == TextOutputMode.TfIdf)
        {
            // Keras: log(1 + documents / (1 + documents with the token)); "[UNK]" gets the mean.
            var known = tokensKept.Select(t => Math.Log(1 + (double)documentCount / (1 + documents[t]))).ToArray();
            weights = [known.Length == 0 ? 0 : known.Average(), .. known];
        }
        SetVocabulary(tokensKept, weights);
    }

    /// <summary>Sets the vocabulary (without the reserved tokens, which come first) and, for TfIdf, each token's weight ([UNK]'s first).</summary>
    public void SetVocabulary(IEnumerable<string> tokens, IReadOnlyList<double>? idfWeights = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var list = Reserved.Concat(tokens).ToArray();
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < list.Length; i++)
        {
            if (list[i] is null) throw new ArgumentException("A vocabulary token is null.", nameof(tokens));
            if (!map.TryAdd(list[i], i)) throw new ArgumentException($"The vocabulary holds '{list[i]}' twice (or a reserved token: \"\" and \"[UNK]\").", nameof(tokens));
        }
        float[]? weights = null;
        if (OutputMode == TextOutputMode.TfIdf)
        {
            int count = list.Length - Reserved.Length;
            // One weight per token (Keras's set_vocabulary: [UNK] gets their mean), or [UNK]'s first.
            if (idfWeights is null || (idfWeights.Count != count && idfWeights.Count != count + 1))
                throw new ArgumentException($"TfIdf needs a weight per token ({count}), or one more for [UNK] first; got {idfWeights?.Count ?? 0}.", nameof(idfWeights));
            weights = idfWeights.Count == count + 1 ? [.. idfWeights.Select(w => (float)w)]
                : [count == 0 ? 0 : (float)idfWeights.Average(), .. idfWeights.Select(w => (float)w)];
        }
        else if (idfWeights is not null)
            throw new ArgumentException($"idf weights are for TfIdf output; this vectorizer's output is {OutputMode}.", nameof(idfWeights));
        lookup = new Lookup(list, map, weights);
    }

    /// <summary>The tokens of <paramref name="text"/>: standardised, split, with n-grams (what the vocabulary holds).</summary>
    public IReadOnlyList<string> Tokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var standard = Standardize switch
        {
            TextStandardize.LowerAndStripPunctuation => StripPunctuation(text.ToLowerInvariant()),
            TextStandardize.Lower => text.ToLowerInvariant(),
            TextStandardize.StripPunctuation => StripPunctuation(text),
            _ => text,
        };
        string[] words = Split switch
        {
            TextSplit.Whitespace => standard.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries),
            TextSplit.Character => [.. TextElements(standard)],
            _ => standard.Length == 0 ? [] : [standard],
        };
        if (Ngrams == 1) return words;
        var all = new List<string>(words);
        for (int n = 2; n <= Ngrams; n++)
            for (int i = 0; i + n <= words.Length; i++) all.Add(string.Join(' ', words, i, n));
        return all;
    }

    static string StripPunctuation(string text)
    {
        var kept = new StringBuilder(text.Length);
        foreach (var c in text) if (!Punctuation.Contains(c)) kept.Append(c);
        return kept.ToString();
    }

    static IEnumerable<string> TextElements(string text)
    {
        var elements = StringInfo.GetTextElementEnumerator(text);
        while (elements.MoveNext()) yield return (string)elements.Current;
    }

    /// <summary>The id of <paramref name="token"/> (1, or 0 outside Int mode, when it is not in the vocabulary).</summary>
    public long IdOf(string token) => IdOf(lookup, token);

    long IdOf(Lookup current, string token) => current.Ids.TryGetValue(token, out var id) ? id : OutputMode == TextOutputMode.Int ? 1 : 0;

    /// <summary>
    /// The texts vectorised: Int mode, ids int64 [texts, length] (0-padded on the right,
    /// truncated to <see cref="OutputSequenceLength"/>); the other modes float32 [texts,
    /// vocabulary size].
    /// </summary>
    public Tensor Apply(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var current = lookup;
        int size = current.Tokens.Length;
        if (size == 0) throw new InvalidOperationException("The vectorizer has no vocabulary yet: call Adapt (or SetVocabulary) first.");
        var tokenized = texts.Select((t, i) => Tokens(t ?? throw new ArgumentException($"Text {i} is null.", nameof(texts)))).ToArray();
        int width = OutputMode == TextOutputMode.Int ? OutputSequenceLength ?? Math.Max(1, tokenized.Select(t => t.Count).DefaultIfEmpty(1).Max()) : size;
        if ((long)texts.Count * width > Array.MaxLength)
            throw new ArgumentException($"{texts.Count} texts x {width} values is more than one tensor of this kind holds here; vectorise them in batches.", nameof(texts));
        if (OutputMode == TextOutputMode.Int)
        {
            var idsOut = new long[texts.Count * width];
            for (int row = 0; row < tokenized.Length; row++)
                for (int i = 0; i < Math.Min(width, tokenized[row].Count); i++) idsOut[row * width + i] = IdOf(current, tokenized[row][i]);
            return torch.tensor(idsOut, [texts.Count, width]);
        }
        var values = new float[texts.Count * size];
        for (int row = 0; row < tokenized.Length; row++)
            foreach (var token in tokenized[row])
            {
                ref float cell = ref values[row * size + IdOf(current, token)];
                cell = OutputMode == TextOutputMode.MultiHot ? 1 : cell + 1;
            }
        if (OutputMode == TextOutputMode.TfIdf)
            for (int i = 0; i < values.Length; i++) values[i] *= current.Idf![i % size];
        return torch.tensor(values, [texts.Count, size]);
    }

    /// <summary>One text vectorised: [length] ids or [vocabulary size] values.</summary>
    public Tensor Apply(string text)
    {
        using var batch = Apply([text]);
        using var row = batch[0];
        return row.clone();
    }

    /// <summary>The settings, vocabulary and weights as JSON.</summary>
    public string ToJson()
    {
        var current = lookup;
        var json = new JsonObject
        {
            ["format"] = "functional.text_vectorization",
            ["max_tokens"] = MaxTokens,
            ["standardize"] = Standardize.ToString(),
            ["split"] = Split.ToString(),
            ["ngrams"] = Ngrams,
            ["output_mode"] = OutputMode.ToString(),
            ["output_sequence_length"] = OutputSequenceLength,
            ["vocabulary"] = new JsonArray([.. current.Tokens.Skip(Reserved.Length).Select(t => (JsonNode)t)]),
        };
        if (current.Idf is not null) json["idf_weights"] = new JsonArray([.. current.Idf.Select(w => (JsonNode)w)]);
        return json.ToJsonString();
    }

    /// <summary>A vectorizer from <see cref="ToJson"/>'s text.</summary>
    /// <exception cref="InvalidDataException">The text is not a saved vectorizer (the message says what is wrong).</exception>
    public static TextVectorizer FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            var node = JsonNode.Parse(json)!.AsObject();
            if ((string?)node["format"] != "functional.text_vectorization") throw new InvalidDataException("not a saved text vectorizer (its format is not functional.text_vectorization).");
            var vectorizer = new TextVectorizer(
                (int?)node["max_tokens"],
                Enum.Parse<TextStandardize>((string)node["standardize"]!),
                Enum.Parse<TextSplit>((string)node["split"]!),
                (int)node["ngrams"]!,
                Enum.Parse<TextOutputMode>((string)node["output_mode"]!),
                (int?)node["output_sequence_length"]);
            var tokens = node["vocabulary"]!.AsArray().Select(t => (string)t!).ToArray();
            var weights = node["idf_weights"]?.AsArray().Select(w => (double)w!).ToArray();
            vectorizer.SetVocabulary(tokens, weights);
            return vectorizer;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException or FormatException or NullReferenceException or InvalidCastException)
        {
            throw new InvalidDataException($"Not a readable text vectorizer: {e.Message}", e);
        }
    }

    /// <summary>Saves <paramref name="model"/> into <paramref name="folder"/> with this vectorizer,
    /// in one generation: a reader gets both from one save, never one from another.</summary>
    public void Save(string folder, Functional.Training.Model model, bool includeOptimizerState = true) =>
        Functional.Persistence.ModelFile.Save(folder, model, includeOptimizerState,
            assets: new Dictionary<string, byte[]> { [AssetName] = Encoding.UTF8.GetBytes(ToJson()) });

    /// <summary>The vectorizer saved with a model by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The folder holds no vectorizer, or a damaged one.</exception>
    public static TextVectorizer Load(string folder) =>
        FromJson(Encoding.UTF8.GetString(Functional.Persistence.ModelFile.ReadAssets(folder, AssetName)[AssetName]));
}
