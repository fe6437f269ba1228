using System.Text.Json;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;

namespace Engine.Data;

/// <summary>
/// Supervised fine-tuning examples from a Parquet file (the form Hugging Face serves datasets in), one row an example, with the
/// columns of the JSONL formats (<see cref="SftJsonl"/>): <c>messages</c> as a list of structs {role, content, …},
/// <c>prompt</c>/<c>completion</c>, <c>instruction</c>/<c>input</c>/<c>output</c>, or <c>text</c>; other columns are ignored.
/// Each row is checked like a JSON line, so errors name the file, the row group and the row in it (both 0-based, as pyarrow counts).
/// </summary>
public static class SftParquet
{
    private static readonly string[] TextColumns = ["prompt", "completion", "instruction", "input", "output", "text"];
    private static readonly string[] MessageTextFields = ["role", "content", "reasoning_content", "tool_call_id", "name"];

    public static List<SftExample> Read(string path)
    {
        string file = Path.GetFileName(path);
        using var stream = File.OpenRead(path);
        CheckMagic(stream, file);
        return ReadRowGroups(stream, file).GetAwaiter().GetResult();
    }

    /// <summary>A Parquet file starts and ends with "PAR1"; a file that starts so but does not end so was cut short.</summary>
    private static void CheckMagic(Stream stream, string file)
    {
        Span<byte> head = stackalloc byte[4], tail = stackalloc byte[4];
        if (stream.Length < 12 || stream.ReadAtLeast(head, 4, throwOnEndOfStream: false) < 4 || !head.SequenceEqual("PAR1"u8))
            throw new DataFormatException(file, null, "not a Parquet file (it does not start with \"PAR1\")");
        stream.Seek(-4, SeekOrigin.End);
        stream.ReadExactly(tail);
        if (!tail.SequenceEqual("PAR1"u8)) throw new DataFormatException(file, null, "truncated Parquet file (it does not end with \"PAR1\", so its footer is missing)");
        stream.Seek(0, SeekOrigin.Begin);
    }

    private static async Task<List<SftExample>> ReadRowGroups(Stream stream, string file)
    {
        ParquetReader reader;
        try { reader = await ParquetReader.CreateAsync(stream, leaveStreamOpen: true); }
        catch (Exception e) { throw new DataFormatException(file, null, $"unreadable Parquet footer: {e.Message}", e); }
        await using (reader)
        {
            CheckColumnTypes(reader.Schema, file);
            var examples = new List<SftExample>();
            for (int group = 0; group < reader.RowGroupCount; group++)
            {
                IList<Dictionary<string, object>> rows;
                try { rows = (await ParquetSerializer.DeserializeUntypedAsync(stream, rowGroupIndex: group)).Data; }
                catch (Exception e) { throw new DataFormatException(file, $"row group {group}", $"unreadable: {e.Message}", e); }
                for (int row = 0; row < rows.Count; row++)
                    examples.Add(SftJsonl.FromJson(JsonSerializer.SerializeToElement(rows[row]), file, $"row group {group}, row {row}"));
            }
            if (examples.Count == 0) throw new DataFormatException(file, null, "no examples (the file has no rows)");
            return examples;
        }
    }

    /// <summary>
    /// Text columns must hold strings: binary, date or decimal columns would reach the JSON checks as strings (base64, ISO dates)
    /// and pass, so they are refused here by their type.
    /// </summary>
    private static void CheckColumnTypes(ParquetSchema schema, string file)
    {
        CheckStrings(schema.Fields, TextColumns, "", file);
        if (schema.Fields.FirstOrDefault(f => f.Name == "messages") is not { } messages) return;
        if (messages is not ListField { Item: StructField message })
            throw new DataFormatException(file, null, $"column \"messages\" is {Describe(messages)}, expected a list of structs {{role, content, …}}");
        CheckStrings(message.Fields, MessageTextFields, "messages.", file);
    }

    private static void CheckStrings(IEnumerable<Field> fields, string[] names, string prefix, string file)
    {
        foreach (var field in fields.Where(f => names.Contains(f.Name)))
            if (field is not DataField { ClrType: var type } || (type != typeof(string) && type != typeof(ReadOnlyMemory<char>)))
                throw new DataFormatException(file, null, $"column \"{prefix}{field.Name}\" is {Describe(field)}, expected strings");
    }

    private static string Describe(Field field) => field switch
    {
        DataField { ClrType: var type } when type == typeof(byte[]) || type == typeof(ReadOnlyMemory<byte>) => "binary",
        DataField data => data.ClrType.Name,
        _ => field.SchemaType.ToString(),
    };
}
