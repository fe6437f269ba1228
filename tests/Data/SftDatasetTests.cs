using Engine.Data;
using Engine.Tests.Tokenizers;
using Engine.Training;
using Xunit;

namespace Engine.Tests.Data;

public class SftDatasetTests
{
    private const int PadId = 999_999;

    private static TokenizedExample AllTrained(int[] ids) => new(ids, Enumerable.Repeat(true, ids.Length).ToArray());

    /// <summary>Example k of the given length, its ids 1000·(k+1) + position so every token is recognisable in a batch.</summary>
    private static List<TokenizedExample> Numbered(int[] lengths)
        => lengths.Select((n, k) => AllTrained(Enumerable.Range(0, n).Select(p => 1000 * (k + 1) + p).ToArray())).ToList();

    [Fact]
    public void TargetsAreTheNextTokenWhereThatTokenIsTrained()
    {
        // Position i predicts token i+1; its mask decides: 11 (untrained), 12 and 13 (trained), 14 (untrained), nothing after the last.
        var sequence = TrainingSequence.FromTokenized(new TokenizedExample([10, 11, 12, 13, 14], [false, false, true, true, false]));
        Assert.Equal([-1, 12, 13, -1, -1], sequence.Targets);
        Assert.Equal([10, 11, 12, 13, 14], sequence.Ids);
    }

    [Fact]
    public void ChatMlTargetsLandOnTheAnswerAndItsEnd()
    {
        var template = ChatTemplate.ByName("chatml", TinyTokenizers.Chat());
        var sequence = TrainingSequence.FromTokenized(template.Render(SftExample.Chat(new(ChatRole.User, "hi"), new(ChatRole.Assistant, "ok"))));
        // Ids 0..19 are the user turn and the assistant header; 20, 21 "ok"; 22 <|im_end|>; 23 "\n".
        int[] expected = Enumerable.Repeat(-1, 24).ToArray();
        (expected[19], expected[20], expected[21]) = (111, 107, 301);
        Assert.Equal(expected, sequence.Targets);
    }

    [Fact]
    public void TruncationIsCountedAndUntrainableExamplesDropped()
    {
        var examples = Numbered([5, 12, 20]);
        var lateAnswer = Enumerable.Range(0, 15).Select(i => i >= 10).ToArray();   // trained only past the cut
        examples.Add(new TokenizedExample(Enumerable.Range(0, 15).ToArray(), lateAnswer));
        var dataset = new SftDataset(examples, maxLen: 10);
        Assert.Equal(new DatasetStats(Examples: 3, Truncated: 3, TokensCut: 2 + 10 + 5, DroppedWithoutTargets: 1, Tokens: 5 + 10 + 10, TargetTokens: 4 + 9 + 9), dataset.Stats);
        Assert.All(dataset.Sequences, s => Assert.True(s.Length <= 10));
    }

    [Fact]
    public void BestFitDecreasingByHand()
    {
        // 9 opens bin 0 (room 1); 7 bin 1 (room 3); 5 bin 2 (room 5); 3 fits bin 1 exactly; each 2 goes to bin 2, the fullest that fits.
        var bins = Packing.BestFitDecreasing([9, 7, 5, 3, 2, 2], capacity: 10);
        Assert.Equal([[0], [1, 3], [2, 4, 5]], bins);
        Assert.Throws<ArgumentException>(() => Packing.BestFitDecreasing([11], capacity: 10));
    }

    [Theory]
    [InlineData(PackingMode.Packed)]
    [InlineData(PackingMode.Unpacked)]
    public void EveryTokenOnceInItsOwnSegmentWithPositionsFromZero(PackingMode mode)
    {
        const int maxLen = 16;
        int[] lengths = Support.TestData.Ints(40, seed: 3, max: maxLen - 1).Select(n => n + 2).ToArray();   // 2..16
        var dataset = new SftDataset(Numbered(lengths), maxLen);
        var batches = dataset.Epoch(epoch: 0, rowsPerBatch: 3, seed: 7, mode, PadId).ToList();
        Assert.Equal(dataset.RowCount(mode), batches.Sum(b => b.Rows));

        var seen = new int[lengths.Length];
        int sharedRows = 0;
        foreach (var batch in batches)
        {
            batch.Validate(vocabSize: PadId + 1, contextLength: maxLen);
            for (int r = 0; r < batch.Rows; r++)
            {
                int row = r * maxLen, expectedSegment = 0;
                for (int t = 0; t < maxLen;)
                {
                    int at = row + t;
                    Assert.Equal(expectedSegment, batch.Segments[at]);
                    if (batch.Ids[at] == PadId)
                    {
                        for (int p = 0; t < maxLen; t++, p++)
                            Assert.True(batch.Ids[row + t] == PadId && batch.Targets[row + t] == -1 && batch.Segments[row + t] == expectedSegment && batch.Positions[row + t] == p);
                        break;
                    }
                    int k = batch.Ids[at] / 1000 - 1;
                    var sequence = dataset.Sequences[k];
                    Assert.True(t + lengths[k] <= maxLen, "a sequence runs past its row");
                    for (int p = 0; p < lengths[k]; p++, t++)
                    {
                        Assert.Equal(1000 * (k + 1) + p, batch.Ids[row + t]);   // the whole example, in order, in one segment
                        Assert.Equal(p, batch.Positions[row + t]);
                        Assert.Equal(expectedSegment, batch.Segments[row + t]);
                        Assert.Equal(sequence.Targets[p], batch.Targets[row + t]);
                    }
                    seen[k]++;
                    expectedSegment++;
                    if (mode == PackingMode.Unpacked) Assert.Equal(1, expectedSegment);
                }
                if (batch.Segments[row + maxLen - 1] > 1 || (batch.Segments[row + maxLen - 1] == 1 && batch.Ids[row + maxLen - 1] != PadId)) sharedRows++;
            }
        }
        Assert.All(seen, count => Assert.Equal(1, count));
        Assert.True(mode == PackingMode.Unpacked ? sharedRows == 0 : sharedRows > 5, $"{sharedRows} rows hold more than one example");
    }

    [Fact]
    public void PackingLeavesLittlePadding()
    {
        int[] lengths = Support.TestData.Ints(200, seed: 5, max: 60).Select(n => n + 2).ToArray();
        var dataset = new SftDataset(Numbered(lengths), maxLen: 64);
        int rows = dataset.RowCount(PackingMode.Packed);
        int lowerBound = (int)Math.Ceiling(lengths.Sum() / 64.0);
        Assert.True(rows <= lowerBound + 2, $"{rows} rows for {lengths.Sum()} tokens (at least {lowerBound} needed)");
    }

    [Fact]
    public void EpochsAreDeterministicAndShuffled()
    {
        var dataset = new SftDataset(Numbered(Support.TestData.Ints(30, seed: 9, max: 10).Select(n => n + 2).ToArray()), maxLen: 16);
        static int[] Flatten(IEnumerable<Batch> batches) => batches.SelectMany(b => b.Ids.Concat(b.Targets).Concat(b.Positions).Concat(b.Segments)).ToArray();
        Assert.Equal(Flatten(dataset.Epoch(0, 4, seed: 1)), Flatten(dataset.Epoch(0, 4, seed: 1)));
        int[] epoch0 = dataset.Epoch(0, 4, seed: 1).SelectMany(b => b.Ids).ToArray(), epoch1 = dataset.Epoch(1, 4, seed: 1).SelectMany(b => b.Ids).ToArray();
        Assert.NotEqual(epoch0, epoch1);
        Assert.Equal(epoch0.Order(), epoch1.Order());
        Assert.Throws<ArgumentException>(() => dataset.Epoch(0, 0, seed: 1));
    }
}
