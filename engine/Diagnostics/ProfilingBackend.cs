using System.Diagnostics;
using Engine.Backends;

namespace Engine.Diagnostics;

/// <summary>
/// An IBackend that forwards every call to another and adds up the wall time spent in each op, for the breakdown of a training
/// step by op. Exact for the CPU backend, whose ops are synchronous; on an asynchronous device it would time launches only.
/// </summary>
public sealed class ProfilingBackend(IBackend inner) : DelegatingBackend(inner)
{
    private readonly Dictionary<string, (double Ms, long Calls)> _totals = new();

    /// <summary>Total milliseconds and calls per op since the last <see cref="Reset"/>, largest first.</summary>
    public IReadOnlyList<(string Op, double Ms, long Calls)> Totals =>
        _totals.Select(kv => (kv.Key, kv.Value.Ms, kv.Value.Calls)).OrderByDescending(t => t.Ms).ToList();

    public void Reset() => _totals.Clear();

    protected override void Call(string op, Action call)
    {
        long start = Stopwatch.GetTimestamp();
        call();
        Add(op, start);
    }

    protected override T Call<T>(string op, Func<T> call)
    {
        long start = Stopwatch.GetTimestamp();
        T result = call();
        Add(op, start);
        return result;
    }

    private void Add(string op, long start)
    {
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        string label = op == nameof(CrossEntropyForwardBackward) ? "CrossEntropy (LM head)" : op;
        _totals[label] = _totals.TryGetValue(label, out var t) ? (t.Ms + ms, t.Calls + 1) : (ms, 1);
    }
}
