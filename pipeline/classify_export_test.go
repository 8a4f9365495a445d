package pipeline

// ChatShots is the chat route's choice of few-shot examples.
var ChatShots = chatShots
