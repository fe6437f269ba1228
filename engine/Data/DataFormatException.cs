namespace Engine.Data;

/// <summary>A data file that cannot be used as it is; the message starts with "file:line: ".</summary>
public sealed class DataFormatException(string file, int line, string reason, Exception? inner = null)
    : Exception(line > 0 ? $"{file}:{line}: {reason}" : $"{file}: {reason}", inner)
{
    public string File { get; } = file;

    /// <summary>1-based; 0 when the problem is the file as a whole (e.g. empty).</summary>
    public int Line { get; } = line;

    public string Reason { get; } = reason;
}
