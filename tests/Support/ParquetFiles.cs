using Parquet;
using Parquet.Schema;
using Parquet.Serialization;

namespace Engine.Tests.Support;

/// <summary>Writes test data as Parquet with Parquet.Net, the way a Hugging Face dataset shard holds it.</summary>
public static class ParquetFiles
{
    /// <summary>Writes the rows (column name → value; a struct is a dictionary, a list a list) and returns the path.</summary>
    public static string Write(string path, ParquetSchema schema, IEnumerable<IDictionary<string, object?>> rows, int rowGroupSize = ParquetOptions.DefaultRowGroupSize)
    {
        using var file = File.Create(path);
        ParquetSerializer.SerializeUntypedAsync(rows.ToList(), schema, file, new ParquetOptions { RowGroupSize = rowGroupSize }).GetAwaiter().GetResult();
        return path;
    }
}
