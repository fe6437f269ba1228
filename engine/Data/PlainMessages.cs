using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Engine.Data;

/// <summary>Receives a plain row's turns as <see cref="PlainMessages"/> reads them: the role, and the reader at the content string
/// (to read with GetString, or CopyString into a buffer). A row that turns out not to be plain may already have given some turns.</summary>
public interface IPlainTurns
{
    void Turn(ChatRole role, ref Utf8JsonReader content);
}

/// <summary>
/// The common JSONL row read in one pass of a <see cref="Utf8JsonReader"/>, without building a JSON document: an object whose
/// <c>messages</c> are system, user and assistant turns of only <c>role</c> and <c>content</c> strings, its other fields skipped
/// (<c>answer</c>, <c>meta</c>, ...). Anything else — another format, <c>tools</c>, tool calls, reasoning, a tool turn, a repeated key,
/// a conversation <see cref="SftJsonl"/> would refuse, malformed JSON — is not accepted, and SftJsonl reads the row from its document:
/// every error and every rarer field has one reader, and this one only has to agree with it on the rows it accepts (tested).
/// </summary>
public static class PlainMessages
{
    /// <summary>The row's turns, or null when it is not a plain row.</summary>
    /// <param name="requireAnswer">As SftJsonl's: a conversation without an assistant turn is not accepted here.</param>
    public static List<ChatTurn>? TryRead(ReadOnlySpan<byte> line, bool requireAnswer)
    {
        var turns = new TurnList();
        return TryRead(line, requireAnswer, ref turns) ? turns.Turns : null;
    }

    /// <summary>Whether the row is plain (every content string decoded, as TryRead does, but no string kept).</summary>
    public static bool Accepts(ReadOnlySpan<byte> line, bool requireAnswer)
    {
        var decoded = new Decoded();
        return TryRead(line, requireAnswer, ref decoded);
    }

    /// <summary>Whether the row is plain; its turns go to turns as they are read (content strings decoded only if turns asks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool TryRead<TTurns>(ReadOnlySpan<byte> line, bool requireAnswer, ref TTurns turns) where TTurns : IPlainTurns
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            var read = new Counts();
            bool sawMessages = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool messages = reader.ValueTextEquals("messages"u8);
                if (reader.ValueTextEquals("tools"u8) || reader.ValueTextEquals("chat_template_kwargs"u8) || (messages && sawMessages)) return false;
                reader.Read();
                if (!messages) reader.Skip();
                else if (!(sawMessages = ReadTurns(ref reader, ref turns, ref read))) return false;
            }
            // The object has ended, and nothing follows it (Read throws on trailing content).
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) return false;
            return read.Turns > 0 && (!requireAnswer || read.Answered);
        }
        catch (JsonException) { return false; }
        catch (InvalidOperationException) { return false; }   // a string that is not valid UTF-16 (a lone escaped surrogate) or UTF-8
    }

    private struct Counts
    {
        public int Turns;
        public bool Answered;
    }

    /// <summary>Whether the array the reader is at has only plain turns (each given to turns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ReadTurns<TTurns>(ref Utf8JsonReader reader, ref TTurns turns, ref Counts read) where TTurns : IPlainTurns
    {
        if (reader.TokenType != JsonTokenType.StartArray) return false;
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            if (!ReadTurn(ref reader, ref turns, ref read)) return false;
        return reader.TokenType == JsonTokenType.EndArray;
    }

    /// <summary>Whether the object the reader is at has exactly a known role and a string content (then given to turns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ReadTurn<TTurns>(ref Utf8JsonReader reader, ref TTurns turns, ref Counts read) where TTurns : IPlainTurns
    {
        ChatRole? role = null;
        Utf8JsonReader content = default;
        bool hasContent = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isRole = reader.ValueTextEquals("role"u8);
            if (!isRole && !reader.ValueTextEquals("content"u8)) return false;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String || (isRole ? role is not null : hasContent)) return false;
            if (!isRole)
            {
                content = reader;   // the reader at the string, read once the role is known
                hasContent = true;
            }
            else if (reader.ValueTextEquals("system"u8)) role = ChatRole.System;
            else if (reader.ValueTextEquals("user"u8)) role = ChatRole.User;
            else if (reader.ValueTextEquals("assistant"u8)) role = ChatRole.Assistant;
            else return false;
        }
        if (role is not { } r || !hasContent) return false;
        turns.Turn(r, ref content);
        read.Turns++;
        read.Answered |= r == ChatRole.Assistant;
        return true;
    }

    /// <summary>Decodes each content string into a pooled buffer (a string that does not decode throws, as GetString does).</summary>
    private readonly struct Decoded : IPlainTurns
    {
        public void Turn(ChatRole role, ref Utf8JsonReader content)
        {
            char[] buffer = ArrayPool<char>.Shared.Rent(content.ValueSpan.Length);
            try { content.CopyString(buffer); }
            finally { ArrayPool<char>.Shared.Return(buffer); }
        }
    }

    /// <summary>The turns as a list of strings.</summary>
    private readonly struct TurnList() : IPlainTurns
    {
        public List<ChatTurn> Turns { get; } = new(4);

        public void Turn(ChatRole role, ref Utf8JsonReader content) => Turns.Add(new ChatTurn(role, content.GetString()!));
    }
}
