using Engine.Checks;
using Engine.Data;

namespace Engine.Eval;

/// <summary>One task of a suite: a name and its data, of one of four kinds (exact, ifeval, loss, choice).</summary>
public abstract record EvalTask(string Name)
{
    /// <summary>exact, ifeval, loss or choice: the kind as a suite file writes it.</summary>
    public abstract string Kind { get; }

    /// <summary>How many examples the task scores.</summary>
    public abstract int Count { get; }
}

/// <summary>How an exact task compares the filtered response with the reference: as text, or as numbers within a tolerance.</summary>
public enum AnswerComparison { Exact, Numeric }

/// <summary>A prompt (the turns before the last assistant turn) and the reference answer (that turn).</summary>
public sealed record ExactItem(IReadOnlyList<ChatTurn> Prompt, string Reference);

/// <summary>
/// Greedy generation with the chat template, the response passed through lm-eval's filters, then compared with the reference (trimmed):
/// exact_match; with K samples also pass@1, pass@K and maj@K.
/// </summary>
public sealed record ExactTask(string Name, IReadOnlyList<ExactItem> Items, IReadOnlyList<AnswerFilter> Filters, AnswerComparison Comparison,
    double Tolerance, int MaxNewTokens) : EvalTask(Name)
{
    public override string Kind => "exact";

    public override int Count => Items.Count;
}

/// <summary>IFEval: each prompt answered greedily as a user turn, its instructions checked strictly and loosely.</summary>
public sealed record IfEvalTask(string Name, IReadOnlyList<IfEvalItem> Items, int MaxNewTokens) : EvalTask(Name)
{
    public override string Kind => "ifeval";

    public override int Count => Items.Count;
}

/// <summary>Held-out loss per target token: assistant tokens of conversations, every token of plain text rows.</summary>
public sealed record LossTask(string Name, IReadOnlyList<SftExample> Examples) : EvalTask(Name)
{
    public override string Kind => "loss";

    public override int Count => Examples.Count;
}

/// <summary>A question, its options, and the index of the right one.</summary>
public sealed record ChoiceItem(string Prompt, IReadOnlyList<string> Choices, int Answer);

/// <summary>
/// lm-eval's multiple_choice: the log-likelihood of each option as the continuation of the prompt (Chat: the prompt as a user turn and the
/// option as the start of the assistant's reply; otherwise raw text, the option after a space); the most likely option is the answer.
/// </summary>
public sealed record ChoiceTask(string Name, IReadOnlyList<ChoiceItem> Items, bool Chat) : EvalTask(Name)
{
    public override string Kind => "choice";

    public override int Count => Items.Count;
}

/// <summary>A named list of tasks.</summary>
public sealed record EvalSuite(string Name, IReadOnlyList<EvalTask> Tasks);
