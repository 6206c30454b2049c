using System.Globalization;
using HpsSharp.Core.Safetensors;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Training.Optim;

/// <summary>One trainable parameter as the optimizer sees it.</summary>
/// <param name="Name">Official checkpoint name.</param>
/// <param name="Parameter">The model's tensor.</param>
/// <param name="Group">Its group (learning rate, freezing).</param>
/// <param name="LearningRate">Base learning rate (before the schedule).</param>
/// <param name="WeightDecay">Decoupled weight decay.</param>
/// <param name="Rows">When set, only these rows (dim 0) are updated; the rest of the tensor never changes.</param>
public sealed record OptimizedParameter(string Name, Tensor Parameter, ParameterGroup Group, double LearningRate, double WeightDecay, long[]? Rows = null);

/// <summary>
/// AdamW exactly as <c>torch.optim.AdamW</c> (decoupled decay p ← p·(1 − lr·wd), bias-corrected moments,
/// denominator √v̂ + ε), with float32 master weights and float32 moments for parameters stored in another dtype
/// (bf16 training as DeepSpeed does it), per-parameter learning rates, and row-restricted parameters: the
/// embedding matrix is optimized only at the <c>&lt;|Reward|&gt;</c> row, which has the same effect as HPSv3's
/// full-matrix group plus <c>PartialEmbeddingUpdateCallback</c> (Adam is element-wise, and every other row is restored
/// after each step there) without moment buffers for 151,658 rows.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly List<Slot> _slots;

    public AdamW(IEnumerable<OptimizedParameter> parameters, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        _slots = parameters.Select(p => new Slot(p)).ToList();
    }

    public double Beta1 { get; }

    public double Beta2 { get; }

    public double Eps { get; }

    public IReadOnlyList<OptimizedParameter> Parameters => _slots.Select(s => s.P).ToList();

    /// <summary>
    /// The global L2 norm of all gradients of the optimized tensors (whole tensors, including embedding rows that are
    /// not updated: that is what <c>clip_grad_norm_</c> sees in the original training).
    /// </summary>
    public double GradientNorm()
    {
        double sq = 0;
        foreach (var s in _slots)
        {
            var g = s.P.Parameter.grad;
            if (g is null)
            {
                continue;
            }

            // A sparse gradient (LoRA's embedding) holds only the trained rows: densify just those.
            using var rowsOnly = g.is_sparse ? g.index_select(0, s.RowIndex ?? throw new InvalidOperationException($"'{s.P.Name}' has a sparse gradient but no row restriction")).to_dense() : null;

            // Squares in the gradient's dtype, summed in float32: no float64 copy of a 151,658-row embedding gradient.
            using var sqr = (rowsOnly ?? g).square();
            using var n = sqr.sum(type: float32);
            sq += n.item<float>();
        }

        return Math.Sqrt(sq);
    }

    /// <summary>
    /// One update with the base learning rates multiplied by <paramref name="lrFactor"/> and the gradients multiplied
    /// by <paramref name="gradScale"/> (the clipping coefficient).
    /// </summary>
    public void Step(double lrFactor, double gradScale = 1.0)
    {
        using var noGrad = no_grad();
        foreach (var s in _slots)
        {
            var grad = s.P.Parameter.grad;
            if (grad is null)
            {
                continue;
            }

            s.EnsureState();
            using var scope = NewDisposeScope();
            var g = s.RowIndex is null ? grad.to(float32) : grad.index_select(0, s.RowIndex).to(float32);
            if (g.is_sparse)
            {
                g = g.to_dense();
            }

            if (gradScale != 1.0)
            {
                g = g * gradScale;
            }

            s.Step++;
            double lr = s.P.LearningRate * lrFactor;
            double bc1 = 1 - Math.Pow(Beta1, s.Step);
            double bc2 = 1 - Math.Pow(Beta2, s.Step);
            var master = s.Master!;
            if (s.P.WeightDecay != 0)
            {
                master.mul_(1 - lr * s.P.WeightDecay);
            }

            s.ExpAvg!.mul_(Beta1).add_(g, alpha: 1 - Beta1);
            s.ExpAvgSq!.mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
            var denom = (s.ExpAvgSq.sqrt() / Math.Sqrt(bc2)).add_(Eps);
            master.addcdiv_(s.ExpAvg, denom, value: -lr / bc1);
            s.WriteBack();
        }
    }

    /// <summary>Clears the gradients of all optimized tensors.</summary>
    public void ZeroGrad()
    {
        foreach (var s in _slots)
        {
            var g = s.P.Parameter.grad;
            if (g is not null)
            {
                using var noGrad = no_grad();
                g.zero_();
            }
        }
    }

    /// <summary>Writes moments, master weights and step counts (float32 / int64) to a safetensors file, atomically.</summary>
    public void Save(string path)
    {
        var entries = new List<SafetensorsWriter.Entry>();
        var meta = new Dictionary<string, string>
        {
            ["format"] = "hpssharp-adamw",
            ["beta1"] = Beta1.ToString("R", CultureInfo.InvariantCulture),
            ["beta2"] = Beta2.ToString("R", CultureInfo.InvariantCulture),
            ["eps"] = Eps.ToString("R", CultureInfo.InvariantCulture),
        };
        foreach (var s in _slots)
        {
            entries.Add(SafetensorsWriter.Entry.FromInt64(s.P.Name + ".step", new[] { s.Step }, new long[] { 1 }));
            if (s.ExpAvg is null)
            {
                continue;
            }

            entries.Add(F32(s.P.Name + ".exp_avg", s.ExpAvg));
            entries.Add(F32(s.P.Name + ".exp_avg_sq", s.ExpAvgSq!));
            if (s.OwnsMaster)
            {
                entries.Add(F32(s.P.Name + ".master", s.Master!));
            }

            if (s.P.Rows is not null)
            {
                entries.Add(SafetensorsWriter.Entry.FromInt64(s.P.Name + ".rows", s.P.Rows, new long[] { s.P.Rows.Length }));
            }
        }

        SafetensorsWriter.Write(path, entries, meta);
    }

    /// <summary>Restores the state written by <see cref="Save"/>; the parameter set must be the same.</summary>
    public void Load(string path)
    {
        using var f = SafetensorsFile.Open(path);
        foreach (var s in _slots)
        {
            if (!f.Contains(s.P.Name + ".step"))
            {
                throw new SafetensorsException(path, $"optimizer state has no entry for parameter '{s.P.Name}' (was the checkpoint made with other freezing options?)");
            }

            s.Step = f.ReadInt64(s.P.Name + ".step")[0];
            if (!f.Contains(s.P.Name + ".exp_avg"))
            {
                continue;
            }

            s.EnsureState();
            Assign(f, path, s.P.Name + ".exp_avg", s.ExpAvg!);
            Assign(f, path, s.P.Name + ".exp_avg_sq", s.ExpAvgSq!);
            if (s.OwnsMaster)
            {
                Assign(f, path, s.P.Name + ".master", s.Master!);
                using var noGrad = no_grad();
                s.WriteBack();
            }
        }
    }

    private static void Assign(SafetensorsFile f, string path, string name, Tensor dest)
    {
        if (!f.Contains(name))
        {
            throw new SafetensorsException(path, $"optimizer state lacks '{name}'");
        }

        var info = f[name];
        if (!info.Shape.SequenceEqual(dest.shape))
        {
            throw new SafetensorsException(path, $"'{name}' has shape [{string.Join(", ", info.Shape)}], the model needs [{string.Join(", ", dest.shape)}]");
        }

        using var src = tensor(f.ReadFloat32(name), dest.shape, float32);
        using var noGrad = no_grad();
        dest.copy_(src);
    }

    private static SafetensorsWriter.Entry F32(string name, Tensor t)
    {
        using var c = t.detach().cpu().to(float32).contiguous();
        return SafetensorsWriter.Entry.FromFloat32(name, c.data<float>().ToArray(), c.shape);
    }

    public void Dispose()
    {
        foreach (var s in _slots)
        {
            s.Dispose();
        }
    }

    private sealed class Slot : IDisposable
    {
        public Slot(OptimizedParameter p)
        {
            P = p;
            if (p.Rows is not null)
            {
                RowIndex = tensor(p.Rows, int64, p.Parameter.device);
            }
        }

        public OptimizedParameter P { get; }

        public Tensor? RowIndex { get; }

        public long Step { get; set; }

        public Tensor? ExpAvg { get; private set; }

        public Tensor? ExpAvgSq { get; private set; }

        public Tensor? Master { get; private set; }

        /// <summary>False when the parameter itself is the float32 master (whole fp32 tensor).</summary>
        public bool OwnsMaster => RowIndex is not null || P.Parameter.dtype != float32;

        public void EnsureState()
        {
            if (ExpAvg is not null)
            {
                return;
            }

            using var noGrad = no_grad();
            var p = P.Parameter;
            Master = OwnsMaster
                ? (RowIndex is null ? p.detach().to(float32).clone() : p.detach().index_select(0, RowIndex).to(float32).clone()).DetachFromDisposeScope()
                : p;
            ExpAvg = zeros_like(Master, dtype: float32).DetachFromDisposeScope();
            ExpAvgSq = zeros_like(Master, dtype: float32).DetachFromDisposeScope();
        }

        /// <summary>Copies the master weights into the model's tensor (rounding to its dtype).</summary>
        public void WriteBack()
        {
            if (!OwnsMaster)
            {
                return;
            }

            var p = P.Parameter;
            if (RowIndex is null)
            {
                p.copy_(Master!);
            }
            else
            {
                using var v = Master!.to(p.dtype);
                p.index_copy_(0, RowIndex, v);
            }
        }

        public void Dispose()
        {
            RowIndex?.Dispose();
            ExpAvg?.Dispose();
            ExpAvgSq?.Dispose();
            if (OwnsMaster)
            {
                Master?.Dispose();
            }
        }
    }
}
