using System.Runtime.CompilerServices;
using HpsSharp.Core;

namespace HpsSharp.Training.Checkpoints;

/// <summary>The rules for a training output folder (<see cref="TrainingOptions.Out"/>): one run per folder, resumed only with its own options.</summary>
public static class RunFolder
{
    /// <summary>
    /// An output folder that holds another run is never trained into by accident: <see cref="TrainingOptions.Resume"/>
    /// continues it, <see cref="TrainingOptions.Overwrite"/> removes what a run writes there (checkpoints, run.json, final weights) and starts clean,
    /// anything else is refused before a byte is written. With <c>--resume</c>, the latest checkpoint's options must
    /// match (<see cref="CheckResumable"/>). Cheap: the CLI calls it before loading data or weights.
    /// </summary>
    public static void Prepare(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var outDir = Path.GetFullPath(options.Out!);
        var run = RunFiles(outDir);
        if (options.Resume)
        {
            if (CheckpointStore.Latest(outDir) is { } ckpt && CheckpointStore.ReadState(ckpt).Options is { } previous)
            {
                CheckResumable(options, previous, ckpt);
            }

            return;
        }

        if (run.Count == 0)
        {
            return;
        }

        if (!options.Overwrite)
        {
            throw UserInputException.ForOption(nameof(TrainingOptions.Out), $"'{outDir}' holds another run ({string.Join(", ", run.Select(Path.GetFileName))}); continue it with {new OptionField(nameof(TrainingOptions.Resume))}, or start clean with {new OptionField(nameof(TrainingOptions.Overwrite))}");
        }

        foreach (var path in run)
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
    }

    /// <summary>What a run leaves in its output folder.</summary>
    private static List<string> RunFiles(string outDir)
    {
        if (!Directory.Exists(outDir))
        {
            return [];
        }

        var found = new List<string>();
        var checkpoints = CheckpointStore.Root(outDir);
        if (Directory.Exists(checkpoints) && Directory.EnumerateFileSystemEntries(checkpoints).Any())
        {
            found.Add(checkpoints);
        }

        foreach (var name in new[] { CheckpointStore.RunFile, CheckpointStore.StateFile, CheckpointStore.OptimizerFile, "model.safetensors", "model.safetensors.index.json" })
        {
            if (File.Exists(Path.Combine(outDir, name)))
            {
                found.Add(Path.Combine(outDir, name));
            }
        }

        found.AddRange(Directory.GetFiles(outDir, "model-*-of-*.safetensors"));
        return found;
    }

    /// <summary>Refuses a resume whose options differ from the checkpoint's, naming every option that differs.</summary>
    /// <exception cref="UserInputException">Some options differ.</exception>
    public static void CheckResumable(TrainingOptions options, TrainingOptions previous, string checkpoint)
    {
        ArgumentNullException.ThrowIfNull(options);
        var differ = options.DifferencesForResume(previous);
        if (differ.Count > 0)
        {
            // Each differing field stays an OptionField, so the front end prints it under its own name.
            var format = "{0} was made with other options; resume with the same ones or start a new {1}: "
                + string.Join(", ", differ.Select((_, i) => $"{{{2 + (3 * i)}}} {{{3 + (3 * i)}}} (now {{{4 + (3 * i)}}})"));
            object[] args = [checkpoint, new OptionField(nameof(TrainingOptions.Out)), .. differ.SelectMany(d => new object[] { new OptionField(d.Field), d.Before, d.Now })];
            throw UserInputException.ForOption(nameof(TrainingOptions.Resume), FormattableStringFactory.Create(format, args));
        }
    }
}
