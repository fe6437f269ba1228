using System.Globalization;
using System.Text;

namespace Engine.Templates;

internal enum TokenKind { Text, OutputBegin, OutputEnd, StatementBegin, StatementEnd, Name, String, Integer, Float, Operator, End }

internal readonly record struct Token(TokenKind Kind, string Value, int Line);

/// <summary>
/// Splits a Jinja template into text and the tokens of its <c>{{ … }}</c> and <c>{% … %}</c> tags, with Hugging Face's
/// settings: trim_blocks (a block tag eats the newline after it), lstrip_blocks (spaces and tabs before a block tag on its
/// line go), <c>-</c>/<c>+</c> whitespace control on either side, comments dropped, and one trailing newline of the source
/// removed (Jinja's keep_trailing_newline = false).
/// </summary>
internal sealed class TemplateLexer
{
    private static readonly string[] Operators = ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private readonly string _source, _name;
    private readonly List<Token> _tokens = [];
    private int _pos, _line = 1;

    private TemplateLexer(string source, string name)
    {
        source = source.Replace("\r\n", "\n");
        if (source.EndsWith('\n')) source = source[..^1];
        _source = source;
        _name = name;
    }

    public static List<Token> Tokenize(string source, string name)
    {
        var lexer = new TemplateLexer(source, name);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        bool lineStarting = true;
        while (_pos < _source.Length)
        {
            int start = NextTag(_pos);
            if (start < 0)
            {
                AddText(_source[_pos..], _line);
                break;
            }
            char kind = _source[start + 1];
            char marker = start + 2 < _source.Length ? _source[start + 2] : '\0';
            string text = _source[_pos..start];
            int textLine = _line;
            if (marker == '-') text = text.TrimEnd(PythonText.WhiteSpace);
            else if (kind != '{' && marker != '+')
            {
                int lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || lineStarting) && lineStart < text.Length && text.AsSpan(lineStart).Trim(PythonText.WhiteSpace).IsEmpty)
                    text = text[..lineStart];
            }
            AddText(text, textLine);
            _line += Count(_source, _pos, start, '\n');
            _pos = start + 2 + (marker is '-' or '+' ? 1 : 0);

            char rightMarker = kind == '#' ? SkipComment() : Tag(kind == '{');
            if (rightMarker == '-')
                while (_pos < _source.Length && PythonText.IsSpace(_source[_pos])) Advance();
            else if (kind != '{' && rightMarker != '+' && _pos < _source.Length && _source[_pos] == '\n') Advance();
            lineStarting = _pos > 0 && _source[_pos - 1] == '\n';
        }
        _tokens.Add(new Token(TokenKind.End, "", _line));
    }

    private int NextTag(int from)
    {
        for (int i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
            if (_source[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private void AddText(string text, int line)
    {
        if (text.Length > 0) _tokens.Add(new Token(TokenKind.Text, text, line));
    }

    private void Advance()
    {
        if (_source[_pos] == '\n') _line++;
        _pos++;
    }

    /// <returns>The whitespace-control marker before "#}": '-', '+' or '\0'.</returns>
    private char SkipComment()
    {
        int end = _source.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (end < 0) throw new TemplateException(_name, _line, "a comment {# is never closed");
        char marker = end > _pos && _source[end - 1] is '-' or '+' ? _source[end - 1] : '\0';
        _line += Count(_source, _pos, end, '\n');
        _pos = end + 2;
        return marker;
    }

    /// <summary>The tokens of one tag up to its closing "}}" or "%}" (outside strings and brackets).</summary>
    /// <returns>The whitespace-control marker before the closer.</returns>
    private char Tag(bool output)
    {
        string closer = output ? "}}" : "%}";
        int openLine = _line;
        _tokens.Add(new Token(output ? TokenKind.OutputBegin : TokenKind.StatementBegin, "", _line));
        int depth = 0;
        while (true)
        {
            while (_pos < _source.Length && PythonText.IsSpace(_source[_pos])) Advance();
            if (_pos >= _source.Length) throw new TemplateException(_name, openLine, $"a tag is never closed with {closer}");
            if (depth == 0)
            {
                char c = _source[_pos];
                char marker = c is '-' or '+' && At(_pos + 1, closer) ? c : '\0';
                if (marker != '\0' || At(_pos, closer))
                {
                    _pos += closer.Length + (marker == '\0' ? 0 : 1);
                    _tokens.Add(new Token(output ? TokenKind.OutputEnd : TokenKind.StatementEnd, "", _line));
                    return marker;
                }
            }
            char ch = _source[_pos];
            if (ch is '\'' or '"') _tokens.Add(new Token(TokenKind.String, ReadString(ch), _line));
            else if (char.IsAsciiDigit(ch)) _tokens.Add(ReadNumber());
            else if (char.IsAsciiLetter(ch) || ch == '_')
            {
                int start = _pos;
                while (_pos < _source.Length && (char.IsAsciiLetterOrDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
                _tokens.Add(new Token(TokenKind.Name, _source[start.._pos], _line));
            }
            else
            {
                string op = Operators.FirstOrDefault(o => At(_pos, o))
                    ?? throw new TemplateException(_name, _line, $"unexpected character '{ch}' in a tag");
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}") depth = Math.Max(0, depth - 1);
                _pos += op.Length;
                _tokens.Add(new Token(TokenKind.Operator, op, _line));
            }
        }
    }

    private bool At(int index, string text) => string.CompareOrdinal(_source, index, text, 0, text.Length) == 0;

    private Token ReadNumber()
    {
        int start = _pos;
        bool isFloat = false;
        while (_pos < _source.Length && (char.IsAsciiDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
        if (_pos + 1 < _source.Length && _source[_pos] == '.' && char.IsAsciiDigit(_source[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < _source.Length && (char.IsAsciiDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
        }
        if (_pos < _source.Length && _source[_pos] is 'e' or 'E')
        {
            int save = _pos++;
            if (_pos < _source.Length && _source[_pos] is '+' or '-') _pos++;
            if (_pos < _source.Length && char.IsAsciiDigit(_source[_pos]))
            {
                isFloat = true;
                while (_pos < _source.Length && char.IsAsciiDigit(_source[_pos])) _pos++;
            }
            else _pos = save;
        }
        string text = _source[start.._pos].Replace("_", "");
        return new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, _line);
    }

    /// <summary>A quoted string with Python's escapes (\n, \t, \\, \', \", \xHH, \uXXXX, \UXXXXXXXX, octal); an unknown escape stays as written.</summary>
    private string ReadString(char quote)
    {
        int openLine = _line;
        var text = new StringBuilder();
        Advance();
        while (true)
        {
            if (_pos >= _source.Length) throw new TemplateException(_name, openLine, "a string is never closed");
            char c = _source[_pos];
            if (c == quote) { _pos++; return text.ToString(); }
            if (c != '\\' || _pos + 1 >= _source.Length) { text.Append(c); Advance(); continue; }
            char e = _source[_pos + 1];
            _pos += 2;
            switch (e)
            {
                case 'n': text.Append('\n'); break;
                case 't': text.Append('\t'); break;
                case 'r': text.Append('\r'); break;
                case 'b': text.Append('\b'); break;
                case 'f': text.Append('\f'); break;
                case 'v': text.Append('\v'); break;
                case 'a': text.Append('\a'); break;
                case '\\' or '\'' or '"': text.Append(e); break;
                case '\n': _line++; break;
                case 'x': text.Append(HexEscape(2)); break;
                case 'u': text.Append(HexEscape(4)); break;
                case 'U': text.Append(HexEscape(8)); break;
                case >= '0' and <= '7':
                    int value = e - '0';
                    for (int k = 0; k < 2 && _pos < _source.Length && _source[_pos] is >= '0' and <= '7'; k++) value = value * 8 + (_source[_pos++] - '0');
                    text.Append((char)value);
                    break;
                default: text.Append('\\').Append(e); break;
            }
        }
    }

    private string HexEscape(int digits)
    {
        if (_pos + digits > _source.Length || !int.TryParse(_source.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
            throw new TemplateException(_name, _line, $"a string has a malformed \\x/\\u escape");
        _pos += digits;
        return char.ConvertFromUtf32(code);
    }

    private static int Count(string text, int from, int to, char c)
    {
        int n = 0;
        for (int i = from; i < to; i++) if (text[i] == c) n++;
        return n;
    }
}
