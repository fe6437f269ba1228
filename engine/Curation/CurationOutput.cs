using System.Text;
using Engine.IO;

namespace Engine.Curation;

/// <summary>
/// The output files of the curate commands. A whole result (filter) is written atomically (a temporary file renamed into place); a
/// growing result (distill, best-of-k) is appended one batch at a time in a single write flushed to disk, so after an interruption
/// the file holds whole batches, except after a kill during that write, which can leave one partial last line: <see cref="OpenForAppend"/>
/// cuts it off before continuing (its rows are then generated again).
/// </summary>
public static class CurationOutput
{
    /// <summary>Refuses an existing output unless the run continues it (resume) or replaces it (force).</summary>
    public static void CheckCanWrite(string path, bool resume, bool force)
    {
        if (resume && force) throw new ArgumentException("--resume continues the output and --force replaces it: give one");
        if (File.Exists(path) && !resume && !force) throw new IOException($"{path} exists: give --resume to continue it or --force to replace it");
        CreateDirectoryOf(path);
    }

    /// <summary>The same for a command that cannot continue its output: refused unless force replaces it.</summary>
    public static void CheckCanWrite(string path, bool force)
    {
        if (File.Exists(path) && !force) throw new IOException($"{path} exists: give --force to replace it");
        CreateDirectoryOf(path);
    }

    /// <summary>Writes the lines as one file atomically.</summary>
    public static void WriteLines(string path, IEnumerable<string> lines) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
        foreach (string line in lines) writer.Write(line + "\n");
    });

    /// <summary>Writes lines of UTF-8 (rows as read) as one file atomically, byte for byte.</summary>
    public static void WriteLines(string path, IEnumerable<ReadOnlyMemory<byte>> lines) => Write(path, stream =>
    {
        foreach (var line in lines)
        {
            stream.Write(line.Span);
            stream.WriteByte((byte)'\n');
        }
    });

    /// <summary>Writes one file atomically from what write puts in the stream.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        CreateDirectoryOf(path);
        AtomicFile.Write(path, write);
    }

    /// <summary>
    /// The file to append batches to: created empty when missing or when force replaces it, else (resume) kept, with a partial last
    /// line (no final newline) cut off; returns the complete lines already there.
    /// </summary>
    public static (BatchAppender Appender, List<string> Existing) OpenForAppend(string path, bool force)
    {
        var existing = new List<string>();
        if (force || !File.Exists(path)) File.WriteAllBytes(path, []);
        else
        {
            byte[] bytes = File.ReadAllBytes(path);
            int end = Array.LastIndexOf(bytes, (byte)'\n') + 1;
            if (end < bytes.Length)
                using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write)) stream.SetLength(end);
            existing.AddRange(Encoding.UTF8.GetString(bytes, 0, end).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        return (new BatchAppender(path), existing);
    }

    private static void CreateDirectoryOf(string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
    }
}

/// <summary>Appends batches of JSONL lines to a file, each batch in one write flushed to disk before the next begins.</summary>
public sealed class BatchAppender(string path) : IDisposable
{
    private readonly FileStream _stream = new(path, FileMode.Append, FileAccess.Write, FileShare.Read);

    public string Path { get; } = path;

    public void Append(IReadOnlyCollection<string> lines)
    {
        if (lines.Count == 0) return;
        byte[] bytes = Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")));
        _stream.Write(bytes);
        _stream.Flush(flushToDisk: true);
    }

    public void Dispose() => _stream.Dispose();
}
