using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Engine.Training;

/// <summary>
/// Scalars in TensorBoard's event-file format: TFRecords (length, masked CRC32C, bytes, masked CRC32C) holding Event protos,
/// written by hand: Event {1: wall_time double, 2: step int64, 3: file_version string, 5: Summary {1: Value {1: tag, 2: simple_value float}}}.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    private readonly FileStream _file;

    /// <summary>Creates `events.out.tfevents.{unix seconds}.engine` in the directory.</summary>
    public TensorBoardWriter(string directory)
    {
        Directory.CreateDirectory(directory);
        Path = System.IO.Path.Combine(directory, $"events.out.tfevents.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.engine");
        _file = new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.Read);
        var header = new ProtoWriter();
        header.Double(1, WallTime());
        header.String(3, "brain.Event:2");
        WriteRecord(header.ToArray());
    }

    public string Path { get; }

    public void Scalar(string tag, long step, double value)
    {
        var summaryValue = new ProtoWriter();
        summaryValue.String(1, tag);
        summaryValue.Float(2, (float)value);
        var summary = new ProtoWriter();
        summary.Message(1, summaryValue.ToArray());
        var ev = new ProtoWriter();
        ev.Double(1, WallTime());
        ev.Varint(2, (ulong)step);
        ev.Message(5, summary.ToArray());
        WriteRecord(ev.ToArray());
    }

    public void Flush() => _file.Flush();

    public void Dispose() => _file.Dispose();

    private void WriteRecord(byte[] data)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)data.Length);
        Span<byte> crc = stackalloc byte[4];
        _file.Write(length);
        BinaryPrimitives.WriteUInt32LittleEndian(crc, MaskedCrc32C(length));
        _file.Write(crc);
        _file.Write(data);
        BinaryPrimitives.WriteUInt32LittleEndian(crc, MaskedCrc32C(data));
        _file.Write(crc);
    }

    private static double WallTime() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>CRC-32C (Castagnoli) of the bytes.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    /// <summary>TFRecord's masking: rotate right by 15 and add a constant.</summary>
    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    /// <summary>The few protobuf encodings an Event needs.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _bytes = new();

        public void Varint(int field, ulong value)
        {
            Key(field, 0);
            Raw(value);
        }

        public void Double(int field, double value)
        {
            Key(field, 1);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(b, value);
            _bytes.Write(b);
        }

        public void Float(int field, float value)
        {
            Key(field, 5);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(b, value);
            _bytes.Write(b);
        }

        public void String(int field, string value) => Message(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, byte[] value)
        {
            Key(field, 2);
            Raw((ulong)value.Length);
            _bytes.Write(value);
        }

        public byte[] ToArray() => _bytes.ToArray();

        private void Key(int field, int wireType) => Raw((ulong)(field << 3 | wireType));

        private void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                _bytes.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }
            _bytes.WriteByte((byte)value);
        }
    }
}
