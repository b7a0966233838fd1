"""Publishing: the model card (`model_card`) and the upload of what a model repo needs (`publish`)."""
