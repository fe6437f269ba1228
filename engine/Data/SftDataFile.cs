namespace Engine.Data;

/// <summary>The one entry to SFT data files: ".parquet" is read as Parquet (<see cref="SftParquet"/>), any other name as JSONL (<see cref="SftJsonl"/>).</summary>
public static class SftDataFile
{
    public static List<SftExample> Read(string path)
        => Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase) ? SftParquet.Read(path) : SftJsonl.Read(path);
}
