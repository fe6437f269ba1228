using System.CommandLine;
using Engine.Backends;
using Engine.IO;
using Engine.Tokenizers;

namespace Engine.Cli;

/// <summary>`engine merge`: folds a PEFT LoRA adapter into its base model (W += scale·B·A) and writes a plain model directory.</summary>
public static class MergeCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var adapter = new Option<DirectoryInfo>("--adapter") { Description = "the PEFT LoRA adapter directory to merge", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "the merged model directory to write (config, weights, tokenizer)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "weights of the merged model: f32, bf16 or f16", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "bf16", "f16");
        var command = new Command("merge", "Merge a LoRA adapter into its base model and save the result as a model directory") { model, adapter, output, dtype };
        command.SetAction(r =>
        {
            string modelDir = r.GetValue(model)!.FullName, adapterDir = r.GetValue(adapter)!.FullName, outDir = r.GetValue(output)!.FullName;
            using var backend = BackendChoice.Create("cpu");
            using var merged = HfCheckpoint.Load(modelDir, backend);
            PeftAdapter.Load(merged, adapterDir);
            int modules = merged.Adapters.Count;
            merged.MergeLora();
            var weights = r.GetValue(dtype) switch { "bf16" => SafeTensorsDType.BF16, "f16" => SafeTensorsDType.F16, _ => SafeTensorsDType.F32 };
            HfCheckpoint.Save(merged, outDir, weights, metadata: ModelMetadata.Of(modelDir, TokenizerIds(modelDir)));
            TokenizerLoader.CopyFiles(modelDir, outDir);
            Console.WriteLine($"merged {modules} LoRA modules of {adapterDir} into {modelDir}; wrote {outDir}");
            return 0;
        });
        return command;
    }

    /// <summary>The base directory's tokenizer's special-token ids, for those its config.json lacks; none when it has no tokenizer.</summary>
    private static SpecialTokenIds TokenizerIds(string modelDir) =>
        File.Exists(Path.Combine(modelDir, "tokenizer.json")) || File.Exists(Path.Combine(modelDir, "tokenizer.model"))
            ? TokenizerLoader.FromDirectory(modelDir).SpecialIds()
            : SpecialTokenIds.None;
}
