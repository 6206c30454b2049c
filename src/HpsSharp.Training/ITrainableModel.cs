using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Training;

/// <summary>What the trainer needs from a preference model.</summary>
/// <typeparam name="TSide">A collated batch of one side of the pairs.</typeparam>
public interface ITrainableModel<TSide> : IDisposable
{
    /// <summary>The module; its <c>named_parameters()</c> carry the official checkpoint names.</summary>
    nn.Module Module { get; }

    /// <summary>Rows of <c>model.embed_tokens.weight</c> that are trained (HPSv3: the &lt;|Reward|&gt; id 151657).</summary>
    IReadOnlyList<long> RewardRows { get; }

    /// <summary>Head outputs [B, 2] = (μ, log σ), float32, differentiable.</summary>
    Tensor Forward(TSide batch);

    /// <summary>Writes a complete model folder (weights in the official layout, config, tokenizer files).</summary>
    void Save(string folder);

    /// <summary>Loads the weights of a folder written by <see cref="Save"/> (to resume).</summary>
    void LoadWeights(string folder);
}

/// <summary>Progress of a training run, reported after every optimizer step.</summary>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="TotalSteps">Planned steps.</param>
/// <param name="Epoch">Current epoch (from 0).</param>
/// <param name="Loss">Loss of the last step (mean over its micro-batches).</param>
/// <param name="Accuracy">Share of the last step's pairs with μA &gt; μB.</param>
/// <param name="LearningRate">Learning rate of the decoder group at the last step.</param>
/// <param name="PairsPerSecond">Training throughput since the run (or resume) began.</param>
/// <param name="EvalAccuracy">Latest held-out accuracy, when evaluated.</param>
public sealed record TrainingProgress(long Step, long TotalSteps, int Epoch, double Loss, double Accuracy, double LearningRate, double PairsPerSecond, double? EvalAccuracy);
