using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps model merge-lora</c>: fold a LoRA adapter into its base model and write a complete checkpoint.</summary>
internal static class ModelMergeLoraCommand
{
    public static Command Create(CliEnvironment env)
    {
        var run = new Argument<string>("RUN") { Description = "A LoRA adapter folder (the output of hps train --lora: adapter_config.json + adapter_model.safetensors)" };
        var output = new Option<string>("--out") { Description = "Folder for the merged model (model.safetensors in the official layout, config and tokenizer files)", Required = true };
        var dtype = SpelledOptions.Dtype("Backbone dtype of the merged weights: bf16 (as released) or fp32; rm_head stays F32");
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace weights already in the output folder" };
        var cmd = new Command("merge-lora", "Fold a LoRA adapter into its base model and write a complete checkpoint in the official layout (scores equal base + adapter)")
        {
            run, output, dtype, overwrite,
        };
        cmd.SetAction((parse, ct) =>
        {
            var r = HpsSharp.Training.Hpsv3.LoraMerge.Merge(parse.GetValue(run)!, parse.GetValue(output)!, parse.GetValue(dtype), parse.GetValue(overwrite));
            env.Error.WriteLine($"merged {r.AdaptedLayers} adapted layers into {r.BaseModel} ({r.Dtype.Name()})");
            env.Out.WriteLine(r.OutputDir);
            return Task.FromResult(CliApp.Ok);
        });
        return cmd;
    }
}
