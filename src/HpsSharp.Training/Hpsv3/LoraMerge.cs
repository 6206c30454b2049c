using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling;
using HpsSharp.Modeling.Lora;
using HpsSharp.Training.Checkpoints;

namespace HpsSharp.Training.Hpsv3;

/// <summary>What <see cref="LoraMerge.Merge(string, string, Precision, bool)"/> wrote.</summary>
/// <param name="OutputDir">The merged model folder.</param>
/// <param name="WeightsFile">Its <c>model.safetensors</c>.</param>
/// <param name="BaseModel">The adapter's base model folder.</param>
/// <param name="AdaptedLayers">Linear layers the adapter changed.</param>
/// <param name="Dtype">Backbone dtype written (bf16 or fp32; rm_head is F32).</param>
public sealed record LoraMergeResult(string OutputDir, string WeightsFile, string BaseModel, int AdaptedLayers, Precision Dtype);

/// <summary>
/// Folds a PEFT LoRA adapter folder (an <c>hps train --lora</c> run) into its base model and writes a complete model
/// folder in the official flat layout: W + (α/r)·B·A for every adapted layer (computed in float32, rounded once to
/// the output dtype, as PEFT's <c>merge_and_unload</c>), the adapter's <c>rm_head</c> and <c>&lt;|Reward|&gt;</c> row,
/// <c>lm_head</c> copied from the base, and the config and tokenizer files.
/// </summary>
public static class LoraMerge
{
    /// <summary>Merges <paramref name="adapterDir"/> into <paramref name="outDir"/> with the backbone in <paramref name="dtype"/>.</summary>
    /// <exception cref="UserInputException">not an adapter folder, a missing base, or an output folder that already holds weights.</exception>
    public static LoraMergeResult Merge(string adapterDir, string outDir, Precision dtype = Precision.Bf16, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(adapterDir);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        if (!PeftAdapter.IsAdapterFolder(adapterDir))
        {
            throw new UserInputException(adapterDir, Directory.Exists(adapterDir)
                ? $"is not a LoRA adapter folder (needs {PeftAdapter.ConfigFile} and {PeftAdapter.WeightsFile}, and no full model weights)"
                : "folder not found");
        }

        var weights = Path.Combine(outDir, "model.safetensors");
        if (!overwrite && (SafetensorsModel.FindWeights(outDir) is not null || File.Exists(weights)))
        {
            throw UserInputException.ForOption("Out", $"'{outDir}' already holds model weights (use {new OptionField("Overwrite")} to replace them)");
        }

        if (Path.GetFullPath(outDir) == Path.GetFullPath(adapterDir))
        {
            throw UserInputException.ForOption("Out", $"must not be the adapter folder itself");
        }

        using var model = Hpsv3Model.Load(adapterDir, new ModelLoadOptions(dtype));
        int layers = model.Lora!.TargetModules.Count;
        model.MergeLora();
        Directory.CreateDirectory(outDir);
        Hpsv3Trainable.WriteCheckpoint(model, model.BaseModelFolder!, weights);
        foreach (var f in Hpsv3Trainable.FolderFiles)
        {
            var src = Path.Combine(adapterDir, f);
            if (!File.Exists(src))
            {
                src = Path.Combine(model.BaseModelFolder!, f);
            }

            if (File.Exists(src))
            {
                AtomicFile.Copy(src, Path.Combine(outDir, f));
            }
        }

        return new LoraMergeResult(Path.GetFullPath(outDir), weights, model.BaseModelFolder!, layers, dtype);
    }
}
