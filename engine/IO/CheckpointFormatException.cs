namespace Engine.IO;

/// <summary>
/// A checkpoint file or directory that cannot be read as what it claims to be: a truncated or corrupt file, a malformed header,
/// a tensor with the wrong shape, a config the engine does not support. The message names the file and, where one is at fault, the tensor.
/// </summary>
public sealed class CheckpointFormatException : Exception
{
    public CheckpointFormatException(string message) : base(message) { }

    public CheckpointFormatException(string message, Exception inner) : base(message, inner) { }
}
