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
    public static FilterResult Run(IReadOnlyList<CurationRow> rows, FilterOptions options)
    {
        options.Quality?.Validate();
        if (options.Target is { } target && (target < 1 || target > rows.Count))
            throw new ArgumentException($"--target {target} is outside 1..{rows.Count}, the number of rows read");
        var times = new Dictionary<string, TimeSpan>();
        var clock = Stopwatch.StartNew();
        var minHash = new MinHash(options.Bands, options.RowsPerBand, seed: options.MinHashSeed);
        var features = new RowFeatures[rows.Count];
        Parallel.For(0, rows.Count, i => features[i] = RowFeatures.Of(rows[i], options, minHash));
        times["features (parallel)"] = clock.Elapsed;

        clock.Restart();
        var removed = new List<Removal>();
        var survivors = new List<CurationRow>();
        var exact = new Dictionary<ulong, CurationRow>();
        var near = new NearDuplicateIndex();
        for (int i = 0; i < rows.Count; i++)
        {
            var (row, f) = (rows[i], features[i]);
            if (f.QualityReason is { } bad) removed.Add(new Removal(row, "quality", bad));
            else if (options.ExactDuplicates && !exact.TryAdd(f.TextHash, row)) removed.Add(new Removal(row, "exact-duplicate", $"same text as {exact[f.TextHash].Where}"));
            else if (options.NearDuplicates && near.Offer(f.BandKeys!, i) is { } earlier)
                removed.Add(new Removal(row, "near-duplicate", $"shares a MinHash band with {rows[earlier].Where} (estimated Jaccard " +
                    $"{MinHash.EstimateJaccard(minHash.Signature(RowFeatures.Words(row)), minHash.Signature(RowFeatures.Words(rows[earlier]))):F2})"));
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

    /// <summary>What the stages need to know about one row, computable on its own (the MinHash signature only as its band keys: a
    /// removed row's reason recomputes the two signatures it compares).</summary>
    private sealed record RowFeatures(string? QualityReason, ulong TextHash, ulong[]? BandKeys, bool Contaminated)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static RowFeatures Of(CurationRow row, FilterOptions options, MinHash minHash)
        {
            Word[] promptWords = TextFeatures.Words(row.PromptText), responseWords = TextFeatures.Words(row.Response);
            string? quality = options.Quality is { } q ? QualityHeuristics.Reject(promptWords, row.Response, responseWords, row.StoppedAtLimit(), q) : null;
            if (quality is not null) return new RowFeatures(quality, 0, null, false);
            Word[] words = [.. promptWords, .. responseWords];
            return new RowFeatures(null, TextFeatures.SequenceHash(words), options.NearDuplicates ? minHash.BandKeys(minHash.Signature(words)) : null,
                options.Decontamination?.Contaminates(words) ?? false);
        }

        /// <summary>The words of prompt + "\n" + response: a line break only separates words.</summary>
        public static Word[] Words(CurationRow row) => [.. TextFeatures.Words(row.PromptText), .. TextFeatures.Words(row.Response)];
    }
}
