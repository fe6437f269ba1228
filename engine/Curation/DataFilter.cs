using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Engine.Curation;

/// <summary>
/// What <see cref="DataFilter"/> does, stage by stage (a stage whose switch is off, or whose input is null, is skipped).
/// </summary>
/// <param name="Quality">Response quality rules, or null: off.</param>
/// <param name="Decontamination">Evaluation n-grams that a kept row must not share, or null: off.</param>
/// <param name="Target">Keep this many rows by k-center diversity selection over prompt embeddings, or null: keep all survivors.</param>
/// <param name="Embed">Embeds prompt texts for the diversity selection (hashed n-grams unless a model's hidden states are asked for).</param>
public sealed record FilterOptions(bool ExactDuplicates = true, bool NearDuplicates = true, QualityOptions? Quality = null, Decontamination? Decontamination = null,
    int? Target = null, Func<IReadOnlyList<string>, IReadOnlyList<float[]>>? Embed = null, int MinHashSeed = 1, int Bands = 14, int RowsPerBand = 8);

/// <summary>A row the filter removed: the stage and why (for near duplicates, the earlier row it matches).</summary>
public sealed record Removal(CurationRow Row, string Stage, string Reason);

/// <summary>The rows kept (in input order), the rows removed with their reasons, and each stage's time.</summary>
public sealed record FilterResult(int RowsIn, IReadOnlyList<CurationRow> Kept, IReadOnlyList<Removal> Removed, IReadOnlyDictionary<string, TimeSpan> StageTimes)
{
    /// <summary>The stages in the order they run.</summary>
    public static readonly string[] Stages = ["quality", "exact-duplicate", "near-duplicate", "decontamination", "diversity"];

    public int RemovedBy(string stage) => Removed.Count(r => r.Stage == stage);
}

/// <summary>
/// The filter of `engine curate filter`, in one pass over the rows: each row goes through response quality, exact duplicates
/// (the normalised words of prompt + response), near duplicates (MinHash LSH of the same text) and decontamination, and leaves at the
/// first stage that rejects it; the survivors are then cut to the target by k-center selection over their prompt embeddings.
/// Quality runs first so a bad row is never the one kept of a duplicate cluster. Per-row features (words, hashes, MinHash signature,
/// quality verdict, contamination) are computed in parallel; the stages that depend on earlier rows (the duplicate sets) then run in
/// row order, so the result does not depend on the number of cores.
/// </summary>
public static class DataFilter
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static FilterResult Run(IReadOnlyList<CurationRow> rows, FilterOptions options)
    {
        options.Quality?.Validate();
        if (options.Target is { } target && (target < 1 || target > rows.Count))
            throw new ArgumentException($"--target {target} is outside 1..{rows.Count}, the number of rows read");
        var times = new Dictionary<string, TimeSpan>();
        var clock = Stopwatch.StartNew();
        var minHash = new MinHash(options.Bands, options.RowsPerBand, seed: options.MinHashSeed);
        int bands = options.NearDuplicates ? minHash.Bands : 0;
        var features = new RowFeatures[rows.Count];
        var bandKeys = new ulong[rows.Count * bands];
        Parallel.For(0, rows.Count, () => new Scratch(minHash.Length), (i, _, scratch) =>
        {
            features[i] = RowFeatures.Of(rows[i], options, minHash, scratch, bandKeys.AsSpan(i * bands, bands));
            return scratch;
        }, _ => { });
        times["features (parallel)"] = clock.Elapsed;

        clock.Restart();
        // Exact duplicates first (among the rows of good quality): the rows left size the near-duplicate index.
        var firstOfText = new HashTable(options.ExactDuplicates ? rows.Count : 0);
        var sameTextAs = new int[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            sameTextAs[i] = -1;
            if (!options.ExactDuplicates || features[i].QualityReason is not null) continue;
            ref int first = ref firstOfText.GetOrAdd(features[i].TextHash, out bool seen);
            if (seen) sameTextAs[i] = first;
            else first = i;
        }
        var removed = new List<Removal>();
        var survivors = new List<CurationRow>();
        var near = new NearDuplicateIndex((options.ExactDuplicates ? firstOfText.Count : rows.Count) * bands);
        var (mine, theirs) = (new Scratch(minHash.Length), new Scratch(minHash.Length));
        ulong[] SignatureOf(CurationRow row, Scratch scratch)
        {
            scratch.Words.Read(row);
            return scratch.Signature(minHash);
        }
        for (int i = 0; i < rows.Count; i++)
        {
            var (row, f) = (rows[i], features[i]);
            if (f.QualityReason is { } bad) removed.Add(new Removal(row, "quality", bad));
            else if (sameTextAs[i] >= 0) removed.Add(new Removal(row, "exact-duplicate", $"same text as {rows[sameTextAs[i]].Where}"));
            else if (options.NearDuplicates && near.Offer(bandKeys.AsSpan(i * bands, bands), i) is { } earlier)
                removed.Add(new Removal(row, "near-duplicate", $"shares a MinHash band with {rows[earlier].Where} (estimated Jaccard " +
                    $"{MinHash.EstimateJaccard(SignatureOf(row, mine), SignatureOf(rows[earlier], theirs)):F2})"));
            else if (f.Contaminated) removed.Add(new Removal(row, "decontamination", $"shares a {options.Decontamination!.N}-gram with the evaluation data"));
            else survivors.Add(row);
        }
        times["duplicate sets (in order)"] = clock.Elapsed;

        var kept = survivors;
        if (options.Target is { } k && k < survivors.Count)
        {
            clock.Restart();
            var embed = options.Embed ?? (texts => texts.Select(new HashedNGramEmbedding().Embed).ToArray());
            var picked = KCenter.Select(embed(survivors.Select(r => r.PromptText).ToList()), k).ToHashSet();
            kept = survivors.Where((_, i) => picked.Contains(i)).ToList();
            removed.AddRange(survivors.Where((_, i) => !picked.Contains(i)).Select(r => new Removal(r, "diversity", $"not among the {k} most diverse prompts (k-center)")));
            times["diversity (k-center)"] = clock.Elapsed;
        }
        return new FilterResult(rows.Count, kept, removed, times);
    }

    /// <summary>What the stages need to know about one row, computable on its own (its MinHash band keys are written beside: a removed
    /// row's reason recomputes the two signatures it compares).</summary>
    private readonly record struct RowFeatures(string? QualityReason, ulong TextHash, bool Contaminated)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static RowFeatures Of(CurationRow row, FilterOptions options, MinHash minHash, Scratch scratch, Span<ulong> bandKeys)
        {
            var words = scratch.Words.Read(row);
            string? quality = options.Quality is { } q ? QualityHeuristics.Reject(words.Prompt, words.Response, words.ResponseWords, row.StoppedAtLimit(), q) : null;
            if (quality is not null) return new RowFeatures(quality, 0, false);
            if (!bandKeys.IsEmpty) minHash.BandKeys(scratch.Signature(minHash), bandKeys);
            return new RowFeatures(null, TextFeatures.SequenceHash(words.All), options.Decontamination?.Contaminates(words.All) ?? false);
        }
    }

    /// <summary>One worker's buffers, reused from row to row: the words of a row and its MinHash signature.</summary>
    private sealed class Scratch(int signatureLength)
    {
        private readonly ulong[] _signature = new ulong[signatureLength];

        public RowWords Words { get; } = new();

        /// <summary>The MinHash signature of the words read.</summary>
        public ulong[] Signature(MinHash minHash)
        {
            minHash.Signature(Words.All, _signature);
            return _signature;
        }
    }
}
