using System.Globalization;

namespace Engine.Data;

/// <summary>A data file that cannot be used as it is; the message starts with "file:at: " (or "file: " for the file as a whole).</summary>
public sealed class DataFormatException(string file, string? at, string reason, Exception? inner = null)
    : Exception(at is null ? $"{file}: {reason}" : $"{file}:{at}: {reason}", inner)
{
    /// <param name="line">1-based; 0 when the problem is the file as a whole (e.g. empty).</param>
    public DataFormatException(string file, int line, string reason, Exception? inner = null)
        : this(file, line > 0 ? line.ToString(CultureInfo.InvariantCulture) : null, reason, inner) { }

    public string File { get; } = file;

    /// <summary>Where in the file: the 1-based line of a JSONL file, "row group G, row R" (both 0-based) of a Parquet file; null when the problem is the file as a whole (e.g. empty).</summary>
    public string? At { get; } = at;

    public string Reason { get; } = reason;
}
