using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using Engine.Data;

namespace Engine.Curation;

/// <summary>
/// The words of a row being filtered, as every filter stage reads them: its prompt's user turns, then its response (the words of
/// <see cref="CurationRow.PromptText"/> + "\n" + <see cref="CurationRow.Response"/>: a line break only separates words). A plain
/// messages row is read from its bytes in one pass of the reader, its strings decoded into one reused buffer; any other row from its
/// parsed turns. Once the buffers have grown a row allocates nothing. One instance per worker thread, refilled row after row.
/// </summary>
internal sealed class RowWords : IPlainTurns
{
    private readonly List<Word> _words = new(256);
    private readonly List<(ChatRole Role, int Start, int Length)> _turns = new(8);
    private char[] _chars = new char[1024];
    private int _charsUsed, _promptWords;
    private ReadOnlyMemory<char> _response;

    /// <summary>The prompt's words, then the response's.</summary>
    public ReadOnlySpan<Word> All => CollectionsMarshal.AsSpan(_words);

    public ReadOnlySpan<Word> Prompt => All[.._promptWords];

    public ReadOnlySpan<Word> ResponseWords => All[_promptWords..];

    /// <summary>The response's text.</summary>
    public ReadOnlySpan<char> Response => _response.Span;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public RowWords Read(CurationRow row)
    {
        (_charsUsed, _promptWords) = (0, 0);
        _turns.Clear();
        _words.Clear();
        var self = this;
        if (PlainMessages.TryRead(row.Utf8.Span, requireAnswer: false, ref self)) FromTurns();
        else FromExample(row);
        return this;
    }

    /// <summary>A plain row's turn: its content decoded after the others' (UTF-16 never has more units than the UTF-8 has bytes).</summary>
    void IPlainTurns.Turn(ChatRole role, ref Utf8JsonReader content)
    {
        int most = content.ValueSpan.Length;
        if (_charsUsed + most > _chars.Length) Array.Resize(ref _chars, Math.Max(2 * _chars.Length, _charsUsed + most));
        int length = content.CopyString(_chars.AsSpan(_charsUsed));
        _turns.Add((role, _charsUsed, length));
        _charsUsed += length;
    }

    /// <summary>The words of the turns read: the response is the last assistant turn (none: every turn is the prompt).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void FromTurns()
    {
        int response = _turns.FindLastIndex(t => t.Role == ChatRole.Assistant);
        if (response < 0) response = _turns.Count;
        for (int t = 0; t < response; t++)
            if (_turns[t].Role == ChatRole.User) TextFeatures.AddWords(_chars.AsSpan(_turns[t].Start, _turns[t].Length), _words);
        _response = response < _turns.Count ? _chars.AsMemory(_turns[response].Start, _turns[response].Length) : ReadOnlyMemory<char>.Empty;
        Finish();
    }

    private void FromExample(CurationRow row)
    {
        var turns = row.Example.Turns;
        for (int t = 0, response = row.ResponseTurn; t < response; t++)
            if (turns[t].Role == ChatRole.User) TextFeatures.AddWords(turns[t].Content, _words);
        _response = row.Response.AsMemory();
        Finish();
    }

    private void Finish()
    {
        _promptWords = _words.Count;
        TextFeatures.AddWords(_response.Span, _words);
    }
}
