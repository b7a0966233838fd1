#!/usr/bin/env python
"""The whole life of a model on this machine, with no download: the README's main command.

1. make a synthetic S&I-layout corpus (espeak-ng speech);  2. build a small random model from local parts;
3. train stage app;  4. train stage sla;  5. save it with its pipeline;  6. score dev and eval (calibrated on dev);
7. write the model card;  8. reload through AutoModel and the pipeline and print one session's scores and the
metric table.

    python scripts/run_demo.py [--workdir runs/demo] [--sessions 400] [--cue-strength 2] [--quick]
"""

import argparse
import json
import os
import shutil
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from build_tiny_checkpoint import build_tiny_checkpoint  # noqa: E402
from make_model_card import write_model_card  # noqa: E402
from score_corpus import format_table, score_corpus  # noqa: E402
from train import DataArguments, ModelArguments, SLATrainingArguments, train  # noqa: E402

from modeling_sla import SLAForSessionScoring  # noqa: E402
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline  # noqa: E402
from processing_sla import SLAProcessor, load_speak_improve  # noqa: E402
from processing_sla.synthetic_corpus import make_synthetic_corpus  # noqa: E402


class Steps:
    def __init__(self, total: int):
        self.total, self.index, self.start = total, 0, time.perf_counter()

    def __call__(self, title: str) -> None:
        self.index += 1
        print(f"\n[{self.index}/{self.total}] {title}  (at {time.perf_counter() - self.start:.0f} s)", flush=True)


def training_arguments(stage: str, output_dir: str, epochs: float, learning_rate: float, quick: bool):
    return SLATrainingArguments(
        stage=stage,
        output_dir=output_dir,
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        per_device_train_batch_size=8,
        seed=0,
        save_total_limit=1,
        disable_tqdm=False,
        logging_strategy="epoch",
        use_cpu=True,
        dataloader_pin_memory=False,
        save_strategy="no" if quick else "epoch",
        load_best_model_at_end=not quick,
    )


def run(workdir: str, sessions: int, duration_scale: float, seed: int, size: str, quick: bool,
        epochs_app: float, epochs_sla: float, cue_strength: float = 2.0, gaps: bool = True,
        lr_sla: float = 5e-4) -> dict:
    steps = Steps(8)
    corpus, base, stage_app = (os.path.join(workdir, name) for name in ("corpus", "base", "stage-app"))
    stage_sla, model_dir, reports = (os.path.join(workdir, name) for name in ("stage-sla", "model", "reports"))
    steps(f"Synthetic corpus: {sessions} sessions at duration scale {duration_scale}")
    if os.path.isdir(corpus):
        shutil.rmtree(corpus)
    make_synthetic_corpus(corpus, sessions=sessions, seed=seed, duration_scale=duration_scale,
                          cue_strength=cue_strength, gaps=gaps)

    steps(f"Building a random {size} model from local Phi-4-multimodal and Whisper parts")
    build_tiny_checkpoint(base, seed=seed, size=size)

    data = DataArguments(corpus_root=corpus)
    steps("Training stage app: the APP classifier on pooled Whisper states")
    train(ModelArguments(checkpoint=base), data, training_arguments("app", stage_app, epochs_app, 3e-3, quick))

    steps("Training stage sla: LoRA, head and APP projector with the masked MSE")
    trainer = train(ModelArguments(checkpoint=stage_app), data,
                    training_arguments("sla", stage_sla, epochs_sla, lr_sla, quick))

    steps("Saving the model with its processor and pipeline")
    model = SLAForSessionScoring.from_pretrained(stage_sla)
    processor = SLAProcessor.from_pretrained(stage_sla)
    save_pretrained_with_pipeline(model, processor, model_dir)

    steps("Scoring the dev and eval splits")
    dev = score_corpus(model_dir, corpus, "dev", os.path.join(reports, "dev"), dataset_name="synthetic S&I")
    evaluation = score_corpus(model_dir, corpus, "eval", os.path.join(reports, "eval"), calibrate_on="dev",
                              calibration_predictions=os.path.join(reports, "dev", "predictions"),
                              dataset_name="synthetic S&I")

    steps("Writing the model card")
    history = [entry for entry in trainer.state.log_history if "eval_overall_rmse" in entry]
    write_model_card(model_dir, [evaluation, dev], dataset_id="synthetic",
                     training={"corpus": f"synthetic S&I-layout corpus, {sessions} sessions "
                                         f"(seed {seed}, cue strength {cue_strength})",
                               "model_size": size, "epochs_app": epochs_app, "epochs_sla": epochs_sla,
                               "best_dev_overall_rmse": min((e["eval_overall_rmse"] for e in history), default=None)})

    steps("Reloading through AutoModel and the pipeline (trust_remote_code)")
    summary = reload_and_show(model_dir, corpus, evaluation)
    print(f"\nDone in {time.perf_counter() - steps.start:.0f} s. Model: {model_dir}  Reports: {reports}")
    return summary


def reload_and_show(model_dir: str, corpus: str, evaluation: dict) -> dict:
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True)
    scorer = pipeline("spoken-language-assessment", model=model_dir, trust_remote_code=True)
    session = load_speak_improve(corpus, "eval")[0]
    result = scorer({"session_id": session["session_id"], "responses": session["responses"]})
    print(f"Loaded {type(model).__name__} from {type(model).__module__}")
    print(f"Eval session {result['session_id']}:")
    for name, value in result["scores"].items():
        reference = session.get(name)
        shown = "-" if value is None else f"{value:5.2f}"  # None: a part without scorable speech
        print(f"  {name:8} {shown:>5} ({result['cefr'][name] or '-':4})  reference {reference}")
    for warning in result["warnings"]:
        print(f"  warning: {warning['part']} {warning['response_id'] or ''} {warning['reason']}: {warning['detail']}")
    print("\nEval split, official S&I metrics (model beside the training-mean and timing-ridge baselines):")
    print(format_table(evaluation))
    model_rmse = evaluation["metrics"]["overall"]["rmse"]
    mean_rmse = evaluation["baselines"]["train_mean"]["overall"]["rmse"]
    ridge_rmse = evaluation["baselines"]["acoustic_ridge"]["overall"]["rmse"]
    print(f"\nOverall RMSE {model_rmse:.3f} = {model_rmse / mean_rmse:.2f} x the training-mean baseline "
          f"({mean_rmse:.3f}); timing ridge {ridge_rmse:.3f}.")
    return {"session": result, "overall_rmse": model_rmse, "mean_rmse": mean_rmse, "ridge_rmse": ridge_rmse}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/demo")
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--duration-scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="small", choices=("tiny", "small"))
    parser.add_argument("--epochs-app", type=float, default=20)
    parser.add_argument("--epochs-sla", type=float, default=6)
    parser.add_argument(
        "--cue-strength", type=float, default=2.0,
        help="synthetic cues' signal-to-noise scale; 2 makes marks about as predictable as real ones (README)")
    parser.add_argument("--no-gaps", action="store_true", help="a complete synthetic train split")
    parser.add_argument("--lr-sla", type=float, default=5e-4)
    parser.add_argument("--quick", action="store_true", help="a minute-long smoke run (tests): tiny corpus/model")
    args = parser.parse_args(argv)
    if args.quick:
        args.sessions, args.duration_scale, args.size, args.epochs_app, args.epochs_sla = 12, 0.05, "tiny", 2, 2
    summary = run(args.workdir, args.sessions, args.duration_scale, args.seed, args.size, args.quick,
                  args.epochs_app, args.epochs_sla, args.cue_strength, not args.no_gaps, args.lr_sla)
    with open(os.path.join(args.workdir, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
