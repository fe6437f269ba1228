namespace Engine.Kernels;

/// <summary>
/// Sizes of one attention call, for the IBackend op, the CPU op and the kernels alike: q/out [batch, seqLen, heads, headDim];
/// k/v [batch, seqLen, kvHeads, headDim]; lse [batch, heads, seqLen]; segments [batch, seqLen]. Scale = 1/√headDim, computed once on the
/// host (as the CPU op computes it) and passed to the kernels. Window: the sliding window W of this call, 0 = unlimited (see <see cref="Sees"/>).
/// </summary>
public readonly record struct AttentionShape(int Batch, int SeqLen, int Heads, int KvHeads, int HeadDim, int Window = 0)
{
    public float Scale { get; } = 1f / MathF.Sqrt(HeadDim);

    private const string QueryFormula = "batch*seqLen*heads*headDim", KeyValueFormula = "batch*seqLen*kvHeads*headDim";

    private long QueryElements => (long)Batch * SeqLen * Heads * HeadDim;
    private long KeyValueElements => (long)Batch * SeqLen * KvHeads * HeadDim;

    /// <summary>Throws unless every size is positive and heads is a multiple of kvHeads, naming the size.</summary>
    public void RequireValid()
    {
        if (Batch <= 0) throw new ArgumentException($"batch is {Batch}, expected > 0", "batch");
        if (SeqLen <= 0) throw new ArgumentException($"seqLen is {SeqLen}, expected > 0", "seqLen");
        if (HeadDim <= 0) throw new ArgumentException($"headDim is {HeadDim}, expected > 0", "headDim");
        if (KvHeads <= 0) throw new ArgumentException($"kvHeads is {KvHeads}, expected > 0", "kvHeads");
        if (Heads <= 0 || Heads % KvHeads != 0)
            throw new ArgumentException($"heads is {Heads}, expected a positive multiple of kvHeads = {KvHeads}", "heads");
        RequireWindow(Window);
    }

    /// <summary>
    /// Whether query i attends key j under causality and a sliding window W (0 = unlimited): i − W &lt; j ≤ i, so a query sees W keys counting
    /// itself. This is Hugging Face's `sliding_window_overlay` (masking_utils: kv_idx &gt; q_idx − sliding_window) and'ed with its causal mask,
    /// which Mistral, Qwen2 and Gemma's sliding layers use. Key and query are positions in one sequence (or cache slots).
    /// </summary>
    public static bool Sees(int query, int key, int window) => key <= query && (window == 0 || query - key < window);

    /// <summary>The earliest key query i sees under window W (0 = unlimited), ignoring segments: max(0, i − W + 1).</summary>
    public static int FirstKey(int query, int window) => window == 0 ? 0 : Math.Max(0, query - window + 1);

    /// <summary>Throws unless window ≥ 0 (0 = unlimited).</summary>
    public static void RequireWindow(int window)
    {
        if (window < 0) throw new ArgumentException($"window is {window}, expected ≥ 0 (0 = unlimited)", "window");
    }

    /// <summary>Throws unless the forward's operands (the backward's too) hold the elements these sizes imply, naming the operand.</summary>
    public void RequireOperands(long output, long lse, long q, long k, long v, long segments)
    {
        Arguments.RequireLength(output, QueryElements, nameof(output), QueryFormula);
        Arguments.RequireLength(lse, (long)Batch * Heads * SeqLen, nameof(lse), "batch*heads*seqLen");
        Arguments.RequireLength(q, QueryElements, nameof(q), QueryFormula);
        Arguments.RequireLength(k, KeyValueElements, nameof(k), KeyValueFormula);
        Arguments.RequireLength(v, KeyValueElements, nameof(v), KeyValueFormula);
        Arguments.RequireLength(segments, (long)Batch * SeqLen, nameof(segments), "batch*seqLen");
    }

    /// <summary>Throws unless dOutput has q's shape and each wanted gradient (length &gt; 0) its operand's.</summary>
    public void RequireGradients(long dOutput, long dq, long dk, long dv)
    {
        Arguments.RequireLength(dOutput, QueryElements, nameof(dOutput), QueryFormula);
        if (dq != 0) Arguments.RequireLength(dq, QueryElements, nameof(dq), QueryFormula);
        if (dk != 0) Arguments.RequireLength(dk, KeyValueElements, nameof(dk), KeyValueFormula);
        if (dv != 0) Arguments.RequireLength(dv, KeyValueElements, nameof(dv), KeyValueFormula);
    }
}
