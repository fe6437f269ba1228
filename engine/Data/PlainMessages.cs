using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Engine.Data;

/// <summary>
/// The common JSONL row read in one pass of a <see cref="Utf8JsonReader"/>, without building a JSON document: an object whose
/// <c>messages</c> are system, user and assistant turns of only <c>role</c> and <c>content</c> strings, its other fields skipped
/// (<c>answer</c>, <c>meta</c>, ...). Anything else — another format, <c>tools</c>, tool calls, reasoning, a tool turn, a repeated key,
/// a conversation <see cref="SftJsonl"/> would refuse, malformed JSON — gives null, and SftJsonl reads the row from its document: every
/// error and every rarer field has one reader, and this one only has to agree with it on the rows it accepts (tested).
/// </summary>
public static class PlainMessages
{
    /// <param name="requireAnswer">As SftJsonl's: a conversation without an assistant turn is not accepted here.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static List<ChatTurn>? TryRead(ReadOnlySpan<byte> line, bool requireAnswer)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            List<ChatTurn>? turns = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool messages = reader.ValueTextEquals("messages"u8);
                if (reader.ValueTextEquals("tools"u8) || reader.ValueTextEquals("chat_template_kwargs"u8) || (messages && turns is not null)) return null;
                reader.Read();
                if (!messages) reader.Skip();
                else if ((turns = ReadTurns(ref reader)) is null) return null;
            }
            // The object has ended, and nothing follows it (Read throws on trailing content).
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) return null;
            return turns is { Count: > 0 } && (!requireAnswer || turns.Exists(t => t.Role == ChatRole.Assistant)) ? turns : null;
        }
        catch (JsonException) { return null; }
        catch (InvalidOperationException) { return null; }   // a string that is not valid UTF-16 (a lone escaped surrogate) or UTF-8
    }

    /// <summary>The array the reader is at, when every element is a plain turn; null otherwise.</summary>
    private static List<ChatTurn>? ReadTurns(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray) return null;
        var turns = new List<ChatTurn>(4);
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            if (ReadTurn(ref reader) is not { } turn) return null;
            turns.Add(turn);
        }
        return reader.TokenType == JsonTokenType.EndArray ? turns : null;
    }

    /// <summary>The object the reader is at, when it has exactly a known role and a string content; null otherwise.</summary>
    private static ChatTurn? ReadTurn(ref Utf8JsonReader reader)
    {
        ChatRole? role = null;
        string? content = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isRole = reader.ValueTextEquals("role"u8);
            if (!isRole && !reader.ValueTextEquals("content"u8)) return null;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String || (isRole ? role is not null : content is not null)) return null;
            if (!isRole) content = reader.GetString();
            else if (reader.ValueTextEquals("system"u8)) role = ChatRole.System;
            else if (reader.ValueTextEquals("user"u8)) role = ChatRole.User;
            else if (reader.ValueTextEquals("assistant"u8)) role = ChatRole.Assistant;
            else return null;
        }
        return role is { } r && content is not null ? new ChatTurn(r, content) : null;
    }
}
