using System.CommandLine;
using System.Globalization;
using HpsSharp.Cli.Infrastructure;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps model download | inspect | convert | merge-lora</c>: get the released checkpoint, check a checkpoint,
/// convert layouts, fold a LoRA adapter in. Each subcommand is one file, registered here explicitly.
/// </summary>
public sealed class ModelCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var cmd = new Command("model", "Get HPSv3 and its Qwen2-VL base files from a Hugging Face hub; list and check a checkpoint's tensors; convert layouts");
        cmd.Subcommands.Add(ModelDownloadCommand.Create(env));
        cmd.Subcommands.Add(ModelInspectCommand.Create(env));
        cmd.Subcommands.Add(ModelConvertCommand.Create(env));
        cmd.Subcommands.Add(ModelMergeLoraCommand.Create(env));
        return cmd;
    }

    /// <summary>A size in decimal units as the model subcommands print it (<c>16.6 GB</c>).</summary>
    internal static string Bytes(long n)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double v = n;
        int u = 0;
        while (v >= 1000 && u < units.Length - 1)
        {
            v /= 1000;
            u++;
        }

        return u == 0 ? $"{n} B" : v.ToString(v >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture) + " " + units[u];
    }
}
