"""Interrupt-and-resume, the way the checkpoint tests of the trainers all exercise it."""


def resume_mid_epoch(trainer_cls, config, data, batches, path, load_cls=None):
    """Train ``batches`` batches with ``trainer_cls``, save to ``path``, load it again (with
    ``load_cls``, default the same class) and run to the end; return the resumed trainer."""
    first = trainer_cls(config, data=data, progress=False)
    for _ in range(batches):
        first.train_batch()
    first.save(path)
    resumed = (load_cls or trainer_cls).load(path, data=data, progress=False)
    resumed.run()
    return resumed
